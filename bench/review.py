"""Benchmark the corrections file and ``explainer merge`` on CoNLL-2003 train (14,041 sentences).

Measured, one run:

- appending decisions to a corrections file (lock, append, fsync), one process, and reading them back;
- merging 200 corrections (a random entity's type changed in 200 random sentences) into train.txt, in
  IOB2 as shipped and in an IOB1 copy written here; each merge is checked to be exact: the output equals
  the input except the tag column of the corrected sentences' changed words, and reloading it gives the
  corrected tags;
- loading the dataset alone, for comparison (the merge is a load plus a pass over the bytes).

Usage: ``.venv/bin/python bench/review.py``; prints a markdown table and writes it to
``bench/results/review.md``.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "conll2003" / "train.txt"
RESULTS = ROOT / "bench" / "results" / "review.md"
N_APPENDS, N_CORRECTIONS = 500, 200

# The checkout's explainer, through the path entry above (hence E402).
from explainer.analysis.spans import extract_spans  # noqa: E402
from explainer.data.labels import from_iob2  # noqa: E402
from explainer.data.loaders import load_dataset  # noqa: E402
from explainer.review.corrections import append_decision, make_decision, read_decisions  # noqa: E402
from explainer.review.edits import add_span  # noqa: E402
from explainer.review.merge import merge_bytes  # noqa: E402

TYPES = ("PER", "ORG", "LOC", "MISC")


def iob1_copy(source: Path, target: Path) -> None:
    """``source`` with its last column rewritten from IOB2 to IOB1 (everything else as it was)."""
    blocks, out = [], []
    for line in source.read_text(encoding="utf-8").split("\n"):
        if line.strip() and not line.startswith("-DOCSTART-"):
            blocks.append(line)
            continue
        if blocks:
            tags = from_iob2([b.rsplit(" ", 1)[1] for b in blocks], "iob1")
            out += [b.rsplit(" ", 1)[0] + " " + tag for b, tag in zip(blocks, tags)]
            blocks = []
        out.append(line)
    if blocks:
        tags = from_iob2([b.rsplit(" ", 1)[1] for b in blocks], "iob1")
        out += [b.rsplit(" ", 1)[0] + " " + tag for b, tag in zip(blocks, tags)]
    target.write_text("\n".join(out), encoding="utf-8")


def corrections_for(dataset, rng) -> list[dict]:
    """One decision per chosen sentence (distinct words): a random entity of it gets another type."""
    seen, chosen = set(), []
    for example in dataset.examples:
        if extract_spans(example.tags) and example.words_hash not in seen:
            seen.add(example.words_hash)
            chosen.append(example)
    decisions = []
    for example in rng.sample(chosen, N_CORRECTIONS):
        start, end, kind = rng.choice(extract_spans(example.tags))
        corrected = add_span(example.tags, start, end, rng.choice([t for t in TYPES if t != kind]))
        decisions.append(
            make_decision(
                key=example.words_hash, words=example.words, original=example.tags, corrected=corrected, kind="edit"
            )
        )
    return decisions


def check_exact(source: Path, merged: bytes, dataset, decisions) -> int:
    """Lines that differ, after checking that only tag columns differ and that the reloaded dataset holds
    the corrected tags exactly where a decision applies (duplicates of a sentence included) and the
    original tags everywhere else."""
    before, after = source.read_bytes().split(b"\n"), merged.split(b"\n")
    assert len(before) == len(after)
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert all(a.rsplit(b" ", 1)[0] == b.rsplit(b" ", 1)[0] for a, b in changed)
    with tempfile.NamedTemporaryFile(suffix=".txt") as handle:
        handle.write(merged)
        handle.flush()
        reloaded = load_dataset(handle.name).examples
    by_key = {d["key"]: d for d in decisions}
    for old, new in zip(dataset.examples, reloaded):
        decision = by_key.get(old.words_hash)
        applies = decision is not None and tuple(decision["original"]) == old.tags
        assert new.tags == (tuple(decision["corrected"]) if applies else old.tags)
    return len(changed)


def main() -> int:
    if not DATA.is_file():
        print(f"{DATA} is not present", file=sys.stderr)
        return 1
    rows = []
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        path = work / "train.corrections.jsonl"
        decision = make_decision(
            key="0" * 16,
            words=["a"] * 20,
            original=["O"] * 20,
            corrected=["B-PER"] + ["O"] * 19,
            kind="edit",
            identity={"cache": "bench"},
        )
        times = []
        for _ in range(N_APPENDS):
            started = time.perf_counter()
            append_decision(path, decision)
            times.append(time.perf_counter() - started)
        times.sort()
        rows.append(
            (
                f"append one decision (lock + append + fsync), {N_APPENDS} in a row",
                f"p50 {times[len(times) // 2] * 1e3:.2f} ms, p95 {times[int(len(times) * 0.95)] * 1e3:.2f} ms",
            )
        )
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert len(read_decisions(path)) == N_APPENDS
        rows.append((f"read {N_APPENDS} decisions", f"{(time.perf_counter() - started) * 1e3:.1f} ms"))

        started = time.perf_counter()
        dataset = load_dataset(str(DATA))
        load_seconds = time.perf_counter() - started
        rows.append((f"load train.txt alone ({len(dataset.examples):,} sentences)", f"{load_seconds:.2f} s"))
        decisions = corrections_for(dataset, random.Random(0))
        iob1 = work / "train-iob1.txt"
        iob1_copy(DATA, iob1)
        for name, source in (("IOB2", DATA), ("IOB1 copy", iob1)):
            started = time.perf_counter()
            merged, report = merge_bytes(str(source), decisions)
            seconds = time.perf_counter() - started
            lines = check_exact(source, merged, load_dataset(str(source)), decisions)
            assert report.corrected >= N_CORRECTIONS and not report.unmatched
            rows.append(
                (
                    f"merge {N_CORRECTIONS} corrections into train.txt ({name})",
                    f"{seconds:.2f} s ({seconds / load_seconds:.2f}× the load); exact: {lines} tag lines "
                    f"changed in {report.corrected} sentences, {report.unchanged:,} sentences byte-for-byte",
                )
            )
    load = os.getloadavg()
    table = ["| what | result |", "|---|---|"] + [f"| {what} | {result} |" for what, result in rows]
    text = "\n".join(
        [
            "# Corrections file and merge (bench/review.py)",
            "",
            f"CoNLL-2003 train, one run; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
            f"(1 / 5 / 15 min) on {os.cpu_count()} cores shared with other jobs.",
            "",
            *table,
            "",
        ]
    )
    print(text)
    RESULTS.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
