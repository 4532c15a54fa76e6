"""App latency on a CoNLL-2003 train cache (14,041 examples, ~278k subwords), over HTTP.

Builds the cache with a small config-built BERT (its predictions are random; the sizes are real),
starts gunicorn behind nginx (bench/stack.py) and drives it with bench/load.py's simulated users:
one user alone (latency of each action: tab switch, filter, inspector, grid page) and 4 at once.
Prints the tables and writes bench/results/app.md. Usage: python bench/app.py [--work DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "conll2003"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))


def load_bench(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="directory for the model and cache (kept); default a temp dir")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per run")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-app-"))
    model = work / "model"
    if not (model / "config.json").is_file():
        load_bench("build").make_model(model, layers=2, hidden=128, vocab_size=16000)
    cache = load_bench("projection").ensure_cache(model, DATA / "train.txt", work / "caches" / "conll-train")

    from load import run_load
    from stack import Gunicorn, Nginx

    from explainer.cache.reader import open_cache

    counts = open_cache(cache).manifest["counts"]
    sections = [f"# App latency\n\nCoNLL-2003 train cache: {counts['examples']:,} examples, {counts['words']:,} words, "
                f"{counts['subwords']:,} subwords. nginx -> gunicorn (2 workers x 4 threads) on 127.0.0.1, "
                f"{args.duration:.0f} s per run, CPU, 2 cores shared with the load generator. One run.\n"]
    with Gunicorn(cache=cache.parent, workers=2, strips_prefix=False) as app, \
            Nginx(upstream_port=app.port, strips_prefix=False) as proxy:
        for users in (1, 4):
            report = run_load(proxy.url, users=users, duration=args.duration, think=0.05)
            sections.append(f"## {users} user{'s' if users > 1 else ''}\n\n{report.table()}\n")
    text = "\n".join(sections)
    print(text)
    out = Path(__file__).with_name("results") / "app.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
