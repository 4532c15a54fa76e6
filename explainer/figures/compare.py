"""Figures of the Compare section (pure: data in, plotly Figure out)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from explainer.analysis.compare import OVERALL


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
