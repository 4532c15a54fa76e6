"""Figures of the Compare section (pure: data in, plotly Figure out)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from explainer.analysis.compare import OVERALL
from explainer.figures.metrics import with_confusion_axes

# Diverging, red for more (B − A > 0: B makes more of this error), blue for fewer, white for no change.
DIFFERENCE_SCALE = [[0.0, "#2166ac"], [0.5, "#ffffff"], [1.0, "#b2182b"]]


def trajectory_figure(frame: pd.DataFrame) -> go.Figure:
    """Entity F1 per type (thin lines) and overall (thick) across models, from
    :func:`explainer.analysis.compare.trajectory`; x is the models in their order, with their epoch where known."""
    figure = go.Figure()
    x = [name if pd.isna(epoch) else f"{name} (epoch {epoch})" for name, epoch in zip(frame["name"], frame["epoch"])]
    for column in [OVERALL, *[c for c in frame.columns if c not in ("name", "epoch", OVERALL)]]:
        figure.add_trace(
            go.Scatter(
                x=x,
                y=frame[column].tolist(),
                mode="lines+markers",
                name=column,
                line={"width": 4 if column == OVERALL else 1.5},
                hovertemplate=f"{column}<br>%{{x}}: F1 %{{y:.3f}}<extra></extra>",
            )
        )
    figure.update_layout(
        yaxis_title="entity F1",
        yaxis_range=[0, 1],
        margin={"l": 50, "r": 10, "t": 10, "b": 40},
        height=280,
        legend={"orientation": "h"},
    )
    return figure


def confusion_difference_figure(found: dict[str, Any]) -> go.Figure:
    """B − A of the entity confusion (:func:`explainer.analysis.compare.confusion_difference`) as a
    diverging heatmap, rows gold, columns predicted.

    Off the diagonal a cell is an error (``none`` column: missed, ``none`` row: spurious): red where B
    makes more of it, blue where fewer. The diagonal (spans given their gold type) is not an error, so
    it keeps its number but no colour. Every cell's hover gives A's count, B's and the difference.
    """
    labels = list(found["labels"])
    a, b, difference = (np.asarray(found[name], dtype=np.int64) for name in ("a", "b", "difference"))
    coloured = difference.astype(float)
    np.fill_diagonal(coloured, 0.0)
    reach = max(1.0, float(np.abs(coloured).max()) if coloured.size else 1.0)
    text = [[f"{value:+d}" if value else "" for value in row] for row in difference.tolist()]
    customdata = [
        [[gold, pred, int(a[i, j]), int(b[i, j])] for j, pred in enumerate(labels)] for i, gold in enumerate(labels)
    ]
    figure = go.Figure(
        go.Heatmap(
            z=coloured,
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            colorscale=DIFFERENCE_SCALE,
            zmin=-reach,
            zmax=reach,
            customdata=customdata,
            hovertemplate=(
                "gold %{y}<br>predicted %{x}<br>A %{customdata[2]} · B %{customdata[3]} spans"
                "<br>B − A %{text}<extra></extra>"
            ),
            colorbar={"title": "B − A", "thickness": 12},
            xgap=1,
            ygap=1,
        )
    )
    return with_confusion_axes(figure, labels)
