"""The Embeddings scatter (pure: points in, plotly Figure out).

WebGL (``go.Scattergl``) so that tens of thousands of points stay fluid. Every point carries
``customdata="example_id:word_index"`` (word_index -1 for an example point): clicks and
selections read ids from there, never from the hover text.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from explainer.analysis.embeddings import EXAMPLE_CATEGORIES, WORD_CATEGORIES, WRONG_LABEL
from explainer.analysis.labels import entity_type
from explainer.figures.metrics import CATEGORY_COLOURS
from explainer.figures.palette import OUTSIDE_COLOUR, label_colours, type_colours

CATEGORY_POINT_COLOURS = {
    **CATEGORY_COLOURS,
    "correct": OUTSIDE_COLOUR,
    WRONG_LABEL: "#7f7f7f",
    "no span errors": OUTSIDE_COLOUR,
    "with span errors": "#e15759",
}
AXIS_NAMES = {"umap": "UMAP", "pca": "PCA"}
TYPE_COLOURINGS = ("gold_type", "pred_type")


def embedding_figure(
    points: pd.DataFrame,
    hover: list[str],
    *,
    colour_by: str,
    labels: list[str],
    method: str = "umap",
    region: dict | None = None,
    height: int = 640,
    counts: Mapping[str, int] | None = None,
) -> go.Figure:
    """Scatter of ``points`` (``x, y, example_id, word_index, wrong`` and the column ``colour_by``).

    Parameters
    ----------
    points : DataFrame
        The points to draw (already filtered and downsampled).
    hover : list of str
        One hover text per point (already escaped).
    colour_by : {"gold_type", "pred_type", "gold", "pred", "category", "loss", "label_quality"}
        A categorical column (one trace per value, so the legend toggles them; entity types in the
        shared palette, O grey) or the loss (one
        trace, a colour scale; points without a loss in grey), or the label-quality score (a
        red-to-green scale, ``label_issue`` points as diamonds; points without a score in grey).
    labels : list of str
        The model's labels, for the order and colours of ``gold``/``pred``.
    method : str
        Names the axes (``UMAP 1`` ...).
    region : dict, optional
        A selection to draw (from the URL), ``{"box": [...]}`` or ``{"lasso": [...]}``.
    counts : mapping, optional
        How many points (drawn or not) have each value of a categorical colouring, shown in the
        legend (``person · 1,234``); by default the drawn points are counted.

    Notes
    -----
    Misclassified points (``wrong``) get a thin black outline in every colouring.
    """
    hover_texts = np.asarray(hover, dtype=object)
    size = 4 if len(points) > 20_000 else 6
    figure = go.Figure()
    if colour_by == "label_quality":
        _add_label_quality_traces(figure, points, hover_texts, size=size)
    elif colour_by == "loss":
        loss = points["loss"].to_numpy(dtype=np.float64, na_value=np.nan)
        known = ~np.isnan(loss)
        _add_trace(
            figure,
            points[known],
            hover_texts[known],
            name="loss",
            size=size,
            marker={
                "color": loss[known],
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": {"text": "loss"}, "thickness": 12},
            },
        )
        if (~known).any():
            _add_trace(
                figure, points[~known], hover_texts[~known], name="no loss", size=size, marker={"color": OUTSIDE_COLOUR}
            )
    else:
        values = points[colour_by].astype("str").to_numpy()
        colours, order = _categories(colour_by, labels, values)
        for value in order:
            mask = values == value
            if mask.any():
                count = int(mask.sum()) if counts is None else int(counts.get(value, mask.sum()))
                _add_trace(
                    figure,
                    points[mask],
                    hover_texts[mask],
                    name=f"{value} · {count:,}",
                    size=size,
                    marker={"color": colours.get(value, "#7f7f7f")},
                )
    axis = AXIS_NAMES.get(method, method.upper())
    figure.update_layout(
        height=height,
        margin={"l": 40, "r": 20, "t": 30, "b": 40},
        dragmode="lasso",
        clickmode="event",
        hovermode="closest",
        uirevision="embeddings",
        plot_bgcolor="white",
        legend={"itemsizing": "constant"},
        xaxis={"title": {"text": f"{axis} 1"}, "showticklabels": False, "zeroline": False, "showgrid": False},
        yaxis={"title": {"text": f"{axis} 2"}, "showticklabels": False, "zeroline": False, "showgrid": False},
        selections=[_selection_shape(region)] if region else [],
    )
    return figure


def _add_label_quality_traces(figure: go.Figure, points: pd.DataFrame, hover: np.ndarray, *, size: int) -> None:
    """Points coloured by label-quality score (red = low), those flagged as likely label issues as diamonds."""
    quality = points["label_quality"].to_numpy(dtype=np.float64, na_value=np.nan)
    flagged = points["label_issue"].to_numpy(dtype=bool)
    known = ~np.isnan(quality)
    scale = {"colorscale": "RdYlGn", "cmin": 0.0, "cmax": 1.0}
    colour_bar = {"showscale": True, "colorbar": {"title": {"text": "label quality"}, "thickness": 12}}
    for mask, name, extra in (
        (known & ~flagged, "label quality", colour_bar),
        (known & flagged, "likely label issue", {"symbol": "diamond", "size": size + 3}),
    ):
        if mask.any():
            _add_trace(
                figure,
                points[mask],
                hover[mask],
                name=name,
                size=size,
                marker={"color": quality[mask], **scale, **extra},
            )
    if (~known).any():
        _add_trace(
            figure,
            points[~known],
            hover[~known],
            name="no label-quality score",
            size=size,
            marker={"color": OUTSIDE_COLOUR},
        )


def _categories(colour_by: str, labels: list[str], values: np.ndarray) -> tuple[dict, list]:
    """Colours and legend order of a categorical colouring; values not in the known order go last."""
    if colour_by in ("gold", "pred"):
        colours, known = label_colours(labels), list(labels)
    elif colour_by in TYPE_COLOURINGS:
        types = [kind for kind in dict.fromkeys(entity_type(label) for label in labels) if kind]
        colours, known = type_colours(types), sorted(kind for kind in types if kind != "O") + ["O"]
    elif "with span errors" in values or "no span errors" in values:
        colours, known = CATEGORY_POINT_COLOURS, list(EXAMPLE_CATEGORIES)
    else:
        colours, known = CATEGORY_POINT_COLOURS, list(WORD_CATEGORIES)
    present = set(values.tolist())
    return colours, [value for value in known if value in present] + sorted(present - set(known))


def _add_trace(
    figure: go.Figure, points: pd.DataFrame, hover: np.ndarray, *, name: str, size: int, marker: dict
) -> None:
    # numpy arrays, not lists: plotly checks a list element by element (a second for 30,000 points)
    # and sends numeric arrays base64-encoded (a fraction of the JSON). The ids are one string per
    # point: pairs would be a list of lists (slow to check and to encode) or a 2-D typed array, whose
    # rows reach clickData as typed arrays that do not survive Dash's JSON.
    wrong = points["wrong"].to_numpy(dtype=bool)
    customdata = point_ids(points["example_id"].to_numpy(dtype=np.int64), points["word_index"].to_numpy(dtype=np.int64))
    figure.add_trace(
        go.Scattergl(
            x=points["x"].to_numpy(dtype=np.float32),
            y=points["y"].to_numpy(dtype=np.float32),
            mode="markers",
            name=name,
            text=hover,
            customdata=customdata,
            hovertemplate="%{text}<extra>%{fullData.name}</extra>",
            marker={
                "size": size,
                "opacity": 0.85,
                **marker,
                "line": {"color": "black", "width": np.where(wrong, 1.0 if size > 4 else 0.6, 0.0).astype(np.float32)},
            },
            selected={"marker": {"opacity": 1.0}},
            unselected={"marker": {"opacity": 0.25}},
        )
    )


def point_ids(example_ids: np.ndarray, word_indices: np.ndarray) -> np.ndarray:
    """Each point's ``customdata``: ``"example_id:word_index"`` (word_index -1 for an example point)."""
    return np.char.add(np.char.add(example_ids.astype(str), ":"), word_indices.astype(str)).astype(object)


def parse_point_id(value) -> tuple[int, int] | None:
    """(example_id, word_index) from a point's ``customdata``, or None if it is not one."""
    example_id, sep, word_index = str(value).partition(":")
    try:
        return (int(example_id), int(word_index)) if sep else None
    except ValueError:
        return None


def _selection_shape(region: dict) -> dict:
    """A plotly layout selection drawing ``region`` (a rectangle, or a closed path for a lasso)."""
    style = {"line": {"color": "#333", "width": 1, "dash": "dot"}}
    if "box" in region:
        x0, x1, y0, y1 = region["box"]
        return {"type": "rect", "xref": "x", "yref": "y", "x0": x0, "x1": x1, "y0": y0, "y1": y1, **style}
    path = "M" + "L".join(f"{x},{y}" for x, y in region["lasso"]) + "Z"
    return {"type": "path", "xref": "x", "yref": "y", "path": path, **style}
