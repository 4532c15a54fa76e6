"""The data map (Dataset Cartography): confidence against variability of the gold label over training epochs."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from explainer.analysis.dynamics import AMBIGUOUS, AMBIGUOUS_VARIABILITY, EASY, EASY_CONFIDENCE, HARD, REGIONS

REGION_COLOURS = {EASY: "#2ca02c", AMBIGUOUS: "#ff7f0e", HARD: "#d62728"}
MAX_HOVER_CHARACTERS = 80


def hover_text(text: str, *, limit: int = MAX_HOVER_CHARACTERS) -> str:
    """Dataset text for a hover label: cut to ``limit`` characters and escaped (plotly renders tags in it).

    Examples
    --------
    >>> hover_text("<b>Paris</b> is nice", limit=12)
    '&lt;b&gt;Paris&lt;/b…'
    """
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    return html.escape(cut)


def data_map_figure(points: pd.DataFrame, *, title: str) -> go.Figure:
    """One marker per point, coloured by region, ``customdata`` its point id (for a click to open it).

    Parameters
    ----------
    points : DataFrame
        ``confidence``, ``variability``, ``margin``, ``region``, ``hover`` (escaped text) and ``point_id``.
    title : str
    """
    figure = go.Figure()
    for region in REGIONS:
        chosen = points[points["region"] == region]
        figure.add_trace(
            go.Scattergl(
                x=chosen["variability"].to_numpy(dtype=np.float32),
                y=chosen["confidence"].to_numpy(dtype=np.float32),
                mode="markers",
                name=f"{region} ({len(chosen):,})",
                marker={"color": REGION_COLOURS[region], "size": 6, "opacity": 0.7},
                customdata=chosen["point_id"].to_numpy(dtype=object),
                hovertext=[
                    f"{text}<br>confidence {c:.2f}, variability {v:.2f}, margin {m:+.2f}"
                    for text, c, v, m in zip(
                        chosen["hover"], chosen["confidence"], chosen["variability"], chosen["margin"]
                    )
                ],
                hoverinfo="text",
            )
        )
    top = max(0.5, float(points["variability"].max()) + 0.02) if len(points) else 0.5
    figure.add_shape(
        type="line",
        x0=AMBIGUOUS_VARIABILITY,
        x1=AMBIGUOUS_VARIABILITY,
        y0=0,
        y1=1,
        line={"dash": "dot", "color": "#888"},
    )
    figure.add_shape(
        type="line",
        x0=0,
        x1=AMBIGUOUS_VARIABILITY,
        y0=EASY_CONFIDENCE,
        y1=EASY_CONFIDENCE,
        line={"dash": "dot", "color": "#888"},
    )
    figure.update_layout(
        title=title,
        xaxis={"title": "variability (std of the gold label's probability over epochs)", "range": [0, top]},
        yaxis={"title": "confidence (mean probability of the gold label)", "range": [0, 1.02]},
        legend={"title": "region"},
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        height=520,
        clickmode="event",
    )
    return figure
