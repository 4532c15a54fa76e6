"""Your own slices: a set of examples picked by hand (a lasso in Embeddings, a filter of Misclassified or
Inspect, a pasted list of ids), scored like the build's slices and set beside the rest of the dataset.

Pure functions (no Dash, no files; explainer/cache/own_slices.py keeps them beside the cache). A slice
holds every gold and predicted span of its examples; its precision, recall and F1 are those spans'
(seqeval's micro scores over them), with 95% percentile bootstrap intervals from
:func:`explainer.analysis.slices.bootstrap_scores`: the examples of the whole dataset are resampled, and
the slice and the rest are scored on the same draws, so the difference between them gets a paired
interval too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from explainer.analysis import slices
from explainer.errors import ExplainerError

MAX_NAME = 60
# Letters (any script), digits, and space . _ - inside: a name reads well in a list and a URL.
NAME = re.compile(r"[^\W_](?:[\w .\-]*[\w.\-])?")
MAX_ID_TEXT = 1_000_000  # characters of pasted ids read at most (a million examples' ids fit)
ID_PART = re.compile(r"(\d+)(?:-(\d+))?")


def check_name(name: str | None) -> str:
    """``name`` without surrounding spaces, if it can name a slice; ExplainerError saying why not.

    >>> check_name("  unseen ORG ")
    'unseen ORG'
    """
    text = (name or "").strip()
    if not text:
        raise ExplainerError("slice name: empty; type a name, e.g. 'tweets with hashtags'")
    if len(text) > MAX_NAME:
        raise ExplainerError(f"slice name: {len(text)} characters; use at most {MAX_NAME}")
    if not NAME.fullmatch(text):
        raise ExplainerError(
            f"slice name {text!r}: use letters, digits, spaces and . _ - only, starting with a letter or digit"
        )
    return text


def parse_example_ids(text: str | None, *, n_examples: int) -> list[int]:
    """Example ids typed or pasted: numbers and ranges (``3-7`` or ``3..7``) separated by commas, spaces or
    new lines; sorted, each once. ExplainerError names the first part that is not an id of the cache.

    >>> parse_example_ids("12, 3 5-7\\n3", n_examples=20)
    [3, 5, 6, 7, 12]
    """
    text = re.sub(r"\s*(?:-|\.\.)\s*", "-", (text or "")[:MAX_ID_TEXT])  # "3 .. 7" -> "3-7"
    ids: set[int] = set()
    for part in re.split(r"[,;\s]+", text.strip()):
        if not part:
            continue
        matched = ID_PART.fullmatch(part)
        if matched is None:
            raise ExplainerError(f"example ids: {part[:40]!r} is not an id or a range like 3-7")
        first = int(matched.group(1))
        last = int(matched.group(2)) if matched.group(2) is not None else first
        if last < first:
            raise ExplainerError(f"example ids: the range {part!r} ends before it starts")
        if last >= n_examples:
            raise ExplainerError(
                f"example ids: {last} is not an example of this cache (ids are 0 to {n_examples - 1:,})"
            )
        ids.update(range(first, last + 1))
    return check_examples(ids, n_examples=n_examples)


def check_examples(example_ids: Iterable[int], *, n_examples: int) -> list[int]:
    """The ids sorted, each once, if they are examples of a cache of ``n_examples``; ExplainerError if none is
    given or one is out of range."""
    ids = sorted({int(example_id) for example_id in example_ids})
    if not ids:
        raise ExplainerError("the slice holds no example: select or filter some first, or paste their ids")
    if ids[0] < 0 or ids[-1] >= n_examples:
        wrong = ids[0] if ids[0] < 0 else ids[-1]
        raise ExplainerError(f"example ids: {wrong} is not an example of this cache (ids are 0 to {n_examples - 1:,})")
    return ids


def own_slice_scores(
    frame: pd.DataFrame,
    chosen: Mapping[str, Sequence[int]],
    *,
    n_examples: int,
    draws: int = slices.DRAWS,
    seed: int = 0,
    confidence: float = slices.CONFIDENCE,
) -> pd.DataFrame:
    """Precision, recall and F1 of each slice of examples and of the rest of the dataset, with intervals.

    Parameters
    ----------
    frame : DataFrame
        Every gold and predicted span: ``example_id``, ``side`` ("gold" | "pred"), ``matched`` (the spans
        of :func:`explainer.analysis.slices.span_frame`, as the build stores them).
    chosen : mapping
        Slice name -> its example ids.
    n_examples : int
        Examples of the dataset (ids ``0..n_examples-1``).
    draws, seed, confidence
        As :func:`explainer.analysis.slices.bootstrap_intervals`.

    Returns
    -------
    DataFrame
        One row per slice, in ``chosen``'s order: ``name``, ``examples`` (how many), the ``COUNTS``,
        ``support``, ``precision``, ``recall``, ``f1`` and their ``_low``/``_high``; the rest of the dataset's
        ``rest_examples``, ``rest_support``, ``rest_f1``, ``rest_f1_low``, ``rest_f1_high``; and
        ``difference`` (F1 of the slice minus the rest's) with its paired ``difference_low``/``_high``.

    Examples
    --------
    >>> frame = pd.DataFrame({"example_id": [0, 0, 1, 1], "side": ["gold", "pred", "gold", "pred"],
    ...                       "matched": [True, True, False, False]})
    >>> row = own_slice_scores(frame, {"first": [0]}, n_examples=2, draws=200).iloc[0]
    >>> float(row["f1"]), float(row["rest_f1"]), int(row["examples"])
    (1.0, 0.0, 1)
    """
    names = list(chosen)
    if not names:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    ids = frame["example_id"].to_numpy(dtype=np.int64)
    per_row = slices.row_counts(frame)
    memberships = []
    sizes = []
    for name in names:
        in_slice = np.zeros(n_examples, dtype=bool)
        in_slice[np.asarray(chosen[name], dtype=np.int64)] = True
        member = in_slice[ids]
        memberships += [member, ~member]
        sizes.append(int(in_slice.sum()))
    counts = np.array([per_row[member].sum(axis=0) for member in memberships], dtype=np.int64).reshape(-1, 4)
    point = slices.scores(counts)
    drawn = slices.bootstrap_scores(frame, memberships, n_examples=n_examples, draws=draws, seed=seed)
    intervals = slices.percentile_intervals(drawn, confidence=confidence)  # [2 * n, 3, 2]
    # Draw by draw, the slice's F1 minus the rest's: the paired interval of the difference.
    differences = slices.percentile_intervals(drawn[:, 0::2, 2] - drawn[:, 1::2, 2], confidence=confidence)
    rows = []
    for index, name in enumerate(names):
        own, rest = 2 * index, 2 * index + 1
        row: dict[str, object] = {"name": name, "examples": sizes[index]}
        row.update({count: int(counts[own, column]) for column, count in enumerate(slices.COUNTS)})
        row["support"] = int(slices.support(counts[own]))
        for column, score in enumerate(("precision", "recall", "f1")):
            row[score] = float(point[own, column])
            row[f"{score}_low"], row[f"{score}_high"] = (float(value) for value in intervals[own, column])
        row["rest_examples"] = n_examples - sizes[index]
        row["rest_support"] = int(slices.support(counts[rest]))
        row["rest_f1"] = float(point[rest, 2])
        row["rest_f1_low"], row["rest_f1_high"] = (float(value) for value in intervals[rest, 2])
        row["difference"] = float(point[own, 2] - point[rest, 2])
        row["difference_low"], row["difference_high"] = (float(value) for value in differences[index])
        rows.append(row)
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


SCORE_COLUMNS = [
    "name",
    "examples",
    *slices.COUNTS,
    "support",
    *(f"{score}{suffix}" for score in ("precision", "recall", "f1") for suffix in ("", "_low", "_high")),
    "rest_examples",
    "rest_support",
    "rest_f1",
    "rest_f1_low",
    "rest_f1_high",
    "difference",
    "difference_low",
    "difference_high",
]
