"""Points of the Embeddings section: words or examples placed by their 2-D projection (pure numpy/pandas).

The projections are written by the build (``explainer.pipeline.projection``) and read by
:meth:`explainer.cache.reader.Cache.projections`; this module joins them to the cache's tables, filters, downsamples for display and resolves lasso/box
selections. Nothing here imports Dash or plotly.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainer.analysis.labels import entity_type
from explainer.analysis.misclassified import word_context, wrong_words
from explainer.cache.schema import CORRECT, ERROR_CATEGORIES

WORD, EXAMPLE = "word", "example"
MODES = (WORD, EXAMPLE)
WRONG_LABEL = "wrong label"  # a misclassified word whose span category is not one clear category
WORD_CATEGORIES = (*ERROR_CATEGORIES, WRONG_LABEL)
WITH_ERRORS, WITHOUT_ERRORS = "with span errors", "no span errors"
EXAMPLE_CATEGORIES = (WITHOUT_ERRORS, WITH_ERRORS)
COLOURINGS = {  # the first is the default
    WORD: ("gold_type", "pred_type", "gold", "pred", "category", "loss", "label_quality"),
    EXAMPLE: ("category", "loss", "label_quality"),
}
MAX_LASSO_VERTICES = 64


# --- what each word is -------------------------------------------------------------------------


def word_error_categories(words: pd.DataFrame, span_errors: pd.DataFrame) -> np.ndarray:
    """The error category of every word, for colouring.

    A word inside one or more classified spans (gold or predicted side) takes their category when
    they all agree (``correct``, ``missed``, ``wrong type``...); a word outside every span is
    ``correct`` when its labels agree. Anything else (spans of different categories over the word,
    a mislabelled word outside any span or inside a correct one) is ``wrong label``.

    Returns
    -------
    ndarray of str
        One per row of ``words``.
    """
    n = len(words)
    example_ids = words["example_id"].to_numpy()
    first_row = {int(e): int(r) for e, r in zip(*np.unique(example_ids, return_index=True))}
    found = np.full(n, "", dtype=object)
    mixed = np.zeros(n, dtype=bool)
    for side in ("gold", "pred"):
        starts = pd.array(span_errors[f"{side}_start"], dtype="Int64")
        has_side = ~starts.isna()
        if not has_side.any():
            continue
        ends = pd.array(span_errors[f"{side}_end"], dtype="Int64").to_numpy(dtype=np.int64, na_value=0)[has_side]
        base = np.array([first_row.get(int(e), -1) for e in span_errors["example_id"].to_numpy()[has_side]])
        categories = span_errors["category"].to_numpy()[has_side]
        for offset, start, end, category in zip(
            base, starts.to_numpy(dtype=np.int64, na_value=0)[has_side], ends, categories
        ):
            if offset < 0:
                continue
            rows = slice(offset + start, offset + end)
            current = found[rows]
            mixed[rows] |= (current != "") & (current != category)
            found[rows] = category
    wrong = wrong_words(words)
    categories = np.where(found == "", np.where(wrong, WRONG_LABEL, CORRECT), found)
    categories[mixed] = WRONG_LABEL
    # seqeval reads a predicted I-X after O as a span start, so a span can be correct while its first
    # word's label is not: at word level that is still a wrong label.
    categories[wrong & (categories == CORRECT)] = WRONG_LABEL
    return categories.astype(str)


def word_points(words: pd.DataFrame, coords: np.ndarray, categories: np.ndarray) -> pd.DataFrame:
    """One point per word: ``x, y, row, example_id, word_index, word, gold, pred, gold_type, pred_type, loss,
    wrong, category``.

    ``row`` is the word's row in the words table (for context); ``gold_type``/``pred_type`` are the labels'
    entity types (B- and I- merged, ``O`` stays ``O``); words whose coordinates are not finite are left out.
    The label, type and category columns are categorical (see ``CATEGORICAL_COLUMNS``).
    """
    coords = np.asarray(coords, dtype=np.float32)
    frame = pd.DataFrame(
        {
            "x": coords[:, 0],
            "y": coords[:, 1],
            "row": np.arange(len(words), dtype=np.int32 if len(words) < 2**31 else np.int64),
            "example_id": _int32_if_fits(words["example_id"].to_numpy()),
            "word_index": words["word_index"].to_numpy(),
            "word": pd.Categorical(words["word"]),  # ~23k distinct words at 1M: a code each, categories sorted
            "gold": _categorical(words["gold"]),
            "pred": _categorical(words["pred"]),
            "gold_type": _categorical(entity_types_of(words["gold"])),
            "pred_type": _categorical(entity_types_of(words["pred"])),
            "loss": words["loss"].to_numpy(dtype=np.float32),
            "wrong": wrong_words(words),
            "category": _categorical(categories),
        }
    )
    return frame[np.isfinite(coords).all(axis=1)].reset_index(drop=True)


# A cache's points are kept by every worker for its lifetime (814,484 at 1M subwords): a column of a few
# distinct strings takes one byte per point as a categorical, ~13 as Arrow strings (offsets + text); the
# words (~23k distinct) take a 2- or 4-byte code.
CATEGORICAL_COLUMNS = ("gold", "pred", "gold_type", "pred_type", "category")


def _int32_if_fits(values: np.ndarray) -> np.ndarray:
    """``values`` as int32 when every one fits (example ids: 4 bytes a point rather than 8)."""
    if len(values) and np.iinfo(np.int32).min <= values.min() and values.max() <= np.iinfo(np.int32).max:
        return values.astype(np.int32)
    return values


def _categorical(values: pd.Series | np.ndarray) -> pd.Categorical:
    """``values`` as a categorical of strings (missing values stay missing)."""
    return pd.Categorical(pd.Series(values, copy=False).astype("str"))


def entity_types_of(labels: pd.Series) -> npt.NDArray[np.object_]:
    """The entity type of each label (``B-PER`` and ``I-PER`` -> ``PER``), computed once per distinct label."""
    codes, uniques = pd.factorize(labels.astype("str"))
    types = np.array([entity_type(str(label)) for label in uniques] + ["O"], dtype=object)
    found: npt.NDArray[np.object_] = types[codes]  # a missing label (code -1) reads as O
    return found


def example_points(examples: pd.DataFrame, coords: np.ndarray) -> pd.DataFrame:
    """One point per example: ``x, y, row, example_id, word_index`` (-1), ``text, loss`` (mean loss per
    word), ``wrong`` (any misclassified word), ``category`` (with or without span errors), ``n_errors``."""
    coords = np.asarray(coords, dtype=np.float32)
    n_errors = examples["n_errors"].to_numpy()
    frame = pd.DataFrame(
        {
            "x": coords[:, 0],
            "y": coords[:, 1],
            "row": np.arange(len(examples)),
            "example_id": examples["example_id"].to_numpy(),
            "word_index": np.full(len(examples), -1),
            "text": examples["text"].to_numpy(),
            "loss": examples["mean_loss"].to_numpy(dtype=np.float32),
            "wrong": examples["n_word_errors"].to_numpy() > 0,
            "category": np.where(n_errors > 0, WITH_ERRORS, WITHOUT_ERRORS),
            "n_errors": n_errors,
        }
    )
    return frame[np.isfinite(coords).all(axis=1)].reset_index(drop=True)


# --- filters and display -----------------------------------------------------------------------


def filter_points(
    points: pd.DataFrame,
    *,
    labels: Iterable[str] | None = None,
    errors_only: bool = False,
    min_loss: float | None = None,
    words: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Points passing every filter.

    Parameters
    ----------
    labels : collection of str, optional
        Gold labels shown. Word points: the word's gold label is one of them. Example points
        (``words`` needed): the example has a word with one of them. None shows all.
    errors_only : bool
        Only misclassified words, or examples with a misclassified word.
    min_loss : float, optional
        Word loss (example: mean loss per word) strictly above this value.
    """
    mask = np.ones(len(points), dtype=bool)
    if labels is not None:
        labels = list(labels)
        if "gold" in points:
            mask &= points["gold"].isin(labels).to_numpy()
        elif words is not None:
            having = pd.unique(words["example_id"].to_numpy()[words["gold"].isin(labels).to_numpy()])
            mask &= points["example_id"].isin(having).to_numpy()
    if errors_only:
        mask &= points["wrong"].to_numpy(dtype=bool)
    if min_loss is not None and not math.isnan(min_loss):
        mask &= points["loss"].to_numpy(dtype=np.float64, na_value=np.nan) > min_loss
    return points if mask.all() else points[mask]


def display_sample(points: pd.DataFrame, *, max_points: int, seed: int = 0) -> tuple[pd.DataFrame, str | None]:
    """At most ``max_points`` of ``points`` for drawing, errors kept first; and a note when downsampled.

    All misclassified points are kept when they fit, topped up with a seeded sample of the others;
    when the errors alone are too many, a seeded sample of the errors is drawn. The same seed gives
    the same picture. Order of ``points`` is kept.
    """
    if len(points) <= max_points:
        return points, None
    rng = np.random.default_rng(seed)
    wrong = np.flatnonzero(points["wrong"].to_numpy(dtype=bool))
    right = np.flatnonzero(~points["wrong"].to_numpy(dtype=bool))
    noun = "words" if "gold" in points else "examples"
    if len(wrong) >= max_points:
        chosen = rng.choice(wrong, size=max_points, replace=False)
        note = (
            f"Showing {max_points:,} of {len(points):,} {noun}: a seeded sample of the {len(wrong):,} with "
            f"misclassified words (too many to draw all); the others are hidden."
        )
    else:
        chosen = np.concatenate([wrong, rng.choice(right, size=max_points - len(wrong), replace=False)])
        note = (
            f"Showing {max_points:,} of {len(points):,} {noun}: all {len(wrong):,} with misclassified words "
            f"and a seeded sample of the others."
        )
    return points.iloc[np.sort(chosen)], note


def hover_texts(
    points: pd.DataFrame, words: pd.DataFrame | None = None, *, context_size: int = 4, max_words: int = 14
) -> list[str]:
    """Hover text per point: the word and its context, or the start of the example's text.

    Dataset text is HTML-escaped (plotly renders a few tags in hover labels; ``<b>`` in a sentence
    must show as characters).
    """
    if "word" in points:
        context = word_context(words, points["row"].to_numpy(), size=context_size)
        return [
            f"<b>{html.escape(str(word))}</b><br>{html.escape(str(text))}"
            for word, text in zip(points["word"].tolist(), context.tolist())
        ]
    texts = []
    for example_id, text in zip(points["example_id"].tolist(), points["text"].tolist()):
        tokens = str(text).split()
        head = " ".join(tokens[:max_words]) + (" …" if len(tokens) > max_words else "")
        texts.append(f"<b>example {example_id}</b><br>{html.escape(head)}")
    return texts


# --- selections --------------------------------------------------------------------------------


def region_from_selection(selected: dict[str, Any] | None) -> dict[str, Any] | None:
    """The region of plotly's ``selectedData``: ``{"box": [x0, x1, y0, y1]}`` or ``{"lasso": [[x, y], ...]}``.

    None when there is no selection or no geometry in it (lasso paths are thinned to at most
    ``MAX_LASSO_VERTICES`` vertices, so the region fits in a URL).
    """
    if not selected:
        return None
    box = selected.get("range") or {}
    if isinstance(box.get("x"), list) and isinstance(box.get("y"), list) and len(box["x"]) == len(box["y"]) == 2:
        return _clean_region({"box": [*box["x"], *box["y"]]})
    lasso = selected.get("lassoPoints") or {}
    xs, ys = lasso.get("x"), lasso.get("y")
    if isinstance(xs, list) and isinstance(ys, list) and len(xs) == len(ys) >= 3:
        step = max(1, math.ceil(len(xs) / MAX_LASSO_VERTICES))
        return _clean_region({"lasso": [[x, y] for x, y in zip(xs[::step], ys[::step])]})
    return None


def format_region(region: dict[str, Any] | None) -> str | None:
    """A region as a short URL value: ``box:x0,x1,y0,y1`` or ``lasso:x y;x y;...`` (4 significant digits)."""
    if not region:
        return None

    def number(value: float) -> str:
        return f"{value:.4g}"

    if "box" in region:
        return "box:" + ",".join(number(v) for v in region["box"])
    return "lasso:" + ";".join(f"{number(x)} {number(y)}" for x, y in region["lasso"])


def parse_region(text: str | None) -> dict[str, Any] | None:
    """Inverse of :func:`format_region`; None for anything malformed (URLs are user input)."""
    if not text:
        return None
    kind, _, body = str(text).partition(":")
    try:
        if kind == "box":
            return _clean_region({"box": [float(v) for v in body.split(",")]})
        if kind == "lasso":
            return _clean_region({"lasso": [[float(v) for v in pair.split()] for pair in body.split(";")]})
    except ValueError:
        return None
    return None


def _clean_region(region: dict[str, Any]) -> dict[str, Any] | None:
    """The region with float coordinates, or None when it is not a finite box or polygon."""
    try:
        if "box" in region:
            box = [float(v) for v in region["box"]]
            if len(box) != 4 or not all(map(math.isfinite, box)):
                return None
            return {"box": [min(box[:2]), max(box[:2]), min(box[2:]), max(box[2:])]}
        vertices = [[float(x), float(y)] for x, y in region["lasso"]]
    except (TypeError, ValueError):
        return None
    if (
        len(vertices) < 3
        or len(vertices) > 4 * MAX_LASSO_VERTICES
        or not all(math.isfinite(v) for vertex in vertices for v in vertex)
    ):
        return None
    return {"lasso": vertices}


def points_in_region(x: np.ndarray, y: np.ndarray, region: dict[str, Any] | None) -> npt.NDArray[np.bool_]:
    """Boolean mask of the points inside ``region`` (a box includes its edges; a lasso by even-odd rule)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if not region:
        return np.zeros(len(x), dtype=bool)
    if "box" in region:
        x0, x1, y0, y1 = region["box"]
        in_box: npt.NDArray[np.bool_] = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        return in_box
    vertices = np.asarray(region["lasso"], dtype=np.float64)
    inside = np.zeros(len(x), dtype=bool)
    for (xa, ya), (xb, yb) in zip(vertices, np.roll(vertices, -1, axis=0)):
        crosses = (ya > y) != (yb > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = xa + (y - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (x < x_cross)
    return inside


def selected_points(points: pd.DataFrame, region: dict[str, Any] | None) -> pd.DataFrame:
    """The rows of ``points`` inside ``region`` (all of them, drawn or not)."""
    return points[points_in_region(points["x"].to_numpy(), points["y"].to_numpy(), region)]


def label_counts(words: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Counts of ``words`` by gold and by predicted label: ``label, gold, predicted``, labels in model order.

    Labels counted nowhere are left out.
    """
    gold = words["gold"].value_counts()
    pred = words["pred"].value_counts()
    order = list(labels) + sorted(set(gold.index).union(pred.index) - set(labels))
    frame = pd.DataFrame(
        {
            "label": order,
            "gold": [int(gold.get(label, 0)) for label in order],
            "predicted": [int(pred.get(label, 0)) for label in order],
        }
    )
    return frame[(frame["gold"] > 0) | (frame["predicted"] > 0)].reset_index(drop=True)


def words_of_examples(words: pd.DataFrame, example_ids: npt.ArrayLike) -> pd.DataFrame:
    """The rows of ``words`` that belong to ``example_ids``."""
    return words[words["example_id"].isin(np.asarray(example_ids))]
