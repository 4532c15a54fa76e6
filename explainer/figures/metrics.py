"""Figures of the Metrics section (pure: data in, plotly Figure out)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from explainer.cache.schema import CORRECT, ERROR_CATEGORIES

CATEGORY_COLOURS = {
    "correct": "#59a14f",
    "missed": "#e15759",
    "spurious": "#f28e2b",
    "wrong type": "#b07aa1",
    "boundary": "#4e79a7",
    "type and boundary": "#76b7b2",
}


CELL_PX = 26  # height of a confusion row: names and cell numbers stay readable at any label count
MIN_CONFUSION_HEIGHT = 420


def confusion_height(n_labels: int) -> int:
    """Pixels of a confusion figure of ``n_labels`` rows: grows with the labels, never below the minimum."""
    return max(MIN_CONFUSION_HEIGHT, n_labels * CELL_PX + 160)


def confusion_figure(
    matrix: np.ndarray, labels: list[str], *, normalised: bool, counts: np.ndarray, unit: str = "words"
) -> go.Figure:
    """Heatmap of gold (rows) against predicted (columns); each cell carries its label pair in customdata.
    ``unit`` names what is counted (words, or spans for the entity confusion).

    Every row and column is named (one tick per label) and the figure is ``confusion_height`` tall;
    empty cells carry no number, so the ones that count stand out.
    """
    text = [
        ["" if not counts[i, j] else (f"{value:.2f}" if normalised else f"{int(value)}") for j, value in enumerate(row)]
        for i, row in enumerate(matrix)
    ]
    customdata = [[[gold, pred, int(counts[i, j])] for j, pred in enumerate(labels)] for i, gold in enumerate(labels)]
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            textfont={"size": 10 if len(labels) > 12 else 12},
            colorscale="Blues",
            customdata=customdata,
            hovertemplate="gold %{y}<br>predicted %{x}<br>%{customdata[2]} " + unit + "<extra></extra>",
            colorbar={"title": "share of gold" if normalised else unit, "thickness": 12},
            xgap=1,
            ygap=1,
        )
    )
    return with_confusion_axes(figure, list(labels))


def with_confusion_axes(figure: go.Figure, labels: list[str]) -> go.Figure:
    """``figure`` (a gold x predicted heatmap) with every label named on both axes, gold top-down, and a height
    that grows with the labels."""
    ticks = {"tickmode": "array", "tickvals": labels, "ticktext": labels, "automargin": True}
    figure.update_layout(
        xaxis={"title": {"text": "predicted"}, "tickangle": -90 if len(labels) > 8 else 0, **ticks},
        yaxis={"title": {"text": "gold"}, "autorange": "reversed", **ticks},
        margin={"l": 60, "r": 20, "t": 30, "b": 60},
        height=confusion_height(len(labels)),
        plot_bgcolor="white",
    )
    return figure


def error_category_figure(error_counts: dict, *, include_correct: bool = False) -> go.Figure:
    """Stacked bars: span error categories per entity type; each bar carries (category, type)."""
    types = sorted({t for per_type in error_counts.values() for t in per_type})
    figure = go.Figure()
    for category in ERROR_CATEGORIES:
        if category == CORRECT and not include_correct:
            continue
        per_type = error_counts.get(category, {})
        figure.add_bar(
            name=category,
            x=types,
            y=[per_type.get(t, 0) for t in types],
            marker_color=CATEGORY_COLOURS.get(category),
            customdata=[[category, t] for t in types],
            hovertemplate="%{customdata[1]}: %{y} %{customdata[0]}<extra></extra>",
        )
    figure.update_layout(
        barmode="stack",
        xaxis_title="entity type",
        yaxis_title="spans",
        height=420,
        legend_title="category",
        margin={"l": 60, "r": 20, "t": 30, "b": 60},
    )
    return figure
