"""``explainer compare A B``: B's model against A's on the same data, per type, with paired bootstrap intervals."""

from __future__ import annotations

import argparse
import json

import pandas as pd

from explainer.analysis.compare import CHANGED, TRANSITIONS, Comparison

DEFAULT_TOP = 10


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare two caches of the same data: F1 per type with paired bootstrap intervals, what got fixed/broke",
        description="Compare cache B against cache A (both built on the same dataset and split): entity "
        "P/R/F1 per type and overall, B - A with a paired bootstrap 95%% interval and p-value, span "
        "transitions (fixed, broken, still wrong, both right) and the examples that changed most.",
    )
    parser.add_argument("a", metavar="A", help="the reference cache (e.g. the older checkpoint)")
    parser.add_argument("b", metavar="B", help="the cache compared with it")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--top", type=int, default=DEFAULT_TOP, metavar="N", help="changed examples to list")
    parser.add_argument("--resamples", type=int, default=1000, metavar="N", help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from explainer.cache.pair import compare_caches, ranked_examples
    from explainer.cache.reader import open_cache
    from explainer.errors import ExplainerError

    if args.resamples < 1 or args.top < 0:
        raise ExplainerError("--resamples must be at least 1 and --top at least 0")
    a, b = open_cache(args.a), open_cache(args.b)
    comparison = compare_caches(a, b, resamples=args.resamples, seed=args.seed)
    examples = ranked_examples(a, b, comparison).head(args.top)
    examples = examples[examples["n_changed"] > 0]
    if args.json:
        print(json.dumps({"a": str(a.path), "b": str(b.path), **comparison.to_json(), "examples": _records(examples)}))
    else:
        print(format_comparison(comparison, examples, names=(str(a.path), str(b.path)), top=args.top))
    return 0


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


def format_comparison(
    comparison: Comparison, examples: pd.DataFrame, *, names: tuple[str, str], top: int = DEFAULT_TOP
) -> str:
    """The text ``explainer compare`` prints: scores, transitions, then the most changed examples."""
    scores, counts = comparison.scores, comparison.counts
    width = max([len("type"), *(len(str(name)) for name in scores["type"])])
    header = (
        f"{'type':<{width}}  {'support':>7}  {'F1 A':>6}  {'F1 B':>6}  {'B - A':>7}  {'95% interval':>17}  "
        f"{'p':>6}  {'P A':>6}  {'P B':>6}  {'R A':>6}  {'R B':>6}"
    )
    lines = [
        f"A  {names[0]}",
        f"B  {names[1]}",
        f"paired bootstrap over examples: {comparison.resamples} resamples, seed {comparison.seed}",
        "",
        header,
        "-" * len(header),
    ]
    for row in scores.itertuples(index=False):
        interval = f"[{row.f1_low:+.4f}, {row.f1_high:+.4f}]"
        lines.append(
            f"{row.type:<{width}}  {row.support:>7d}  {row.f1_a:>6.4f}  {row.f1_b:>6.4f}  {row.f1_diff:>+7.4f}  "
            f"{interval:>17}  {row.f1_p:>6.3f}  {row.precision_a:>6.4f}  {row.precision_b:>6.4f}  "
            f"{row.recall_a:>6.4f}  {row.recall_b:>6.4f}"
        )
    columns = [*TRANSITIONS, "gold spans", "spurious spans"]
    header = f"{'type':<{width}}  " + "  ".join(f"{name:>{max(len(name), 6)}}" for name in columns)
    lines += ["", "spans from A to B", header, "-" * len(header)]
    for row in counts.to_dict(orient="records"):
        cells = "  ".join(f"{int(row[name]):>{max(len(name), 6)}d}" for name in columns)
        lines.append(f"{row['type']:<{width}}  {cells}")
    if top == 0:
        return "\n".join(lines)
    lines += ["", f"most changed examples ({' + '.join(CHANGED)} spans, then |loss change|)"]
    if examples.empty:
        lines.append("none: every span has the same outcome in A and B")
    for row in examples.itertuples(index=False):
        text = row.text if len(row.text) <= 70 else row.text[:69] + "…"
        lines.append(
            f"  example {row.example_id:>6}  changed {row.n_changed:>2}  fixed {row.n_fixed:>2}  "
            f"broken {row.n_broken:>2}  loss {row.loss_change:+8.3f}  {text}"
        )
    return "\n".join(lines)
