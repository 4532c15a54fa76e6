"""Figures of the Slices section (pure: data in, plotly Figure out)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

BAR = "#4e79a7"
BELOW = "#e15759"  # a bucket whose whole interval is below the overall F1
OVERALL = "#555555"


def bucket_figure(rows: pd.DataFrame, *, attribute: str, title: str, overall_f1: float) -> go.Figure:
    """F1 per bucket of one attribute with its 95% interval as error bars and the overall F1 as a line.

    ``rows`` are the attribute's rows of the stored bucket scores (one type), in bucket order. Each bar
    carries ``[attribute, bucket]`` in customdata, so a click names the bucket; a bar whose interval lies
    wholly below the overall F1 is red.
    """
    rows = rows.sort_values("order")
    buckets = [str(bucket) for bucket in rows["bucket"]]
    f1 = rows["f1"].to_numpy()
    above = (rows["f1_high"].to_numpy() - f1).clip(min=0).tolist()  # lists: readable in the JSON sent
    below = (f1 - rows["f1_low"].to_numpy()).clip(min=0).tolist()
    colours = [BELOW if high < overall_f1 else BAR for high in rows["f1_high"]]
    figure = go.Figure(
        go.Bar(
            x=buckets,
            y=f1.tolist(),
            marker_color=colours,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": above,
                "arrayminus": below,
                "color": "#333333",
            },
            text=[f"{support:,}" for support in rows["support"]],
            textposition="inside",
            customdata=[
                [attribute, bucket, float(low), float(high), int(support)]
                for bucket, low, high, support in zip(buckets, rows["f1_low"], rows["f1_high"], rows["support"])
            ],
            hovertemplate="%{x}<br>F1 %{y:.3f} [%{customdata[2]:.3f}, %{customdata[3]:.3f}]"
            "<br>%{customdata[4]:,} spans<br>click: its errors<extra></extra>",
        )
    )
    figure.add_hline(y=overall_f1, line_dash="dash", line_color=OVERALL, annotation_text=f"overall {overall_f1:.2f}")
    figure.update_layout(
        title={"text": title, "font": {"size": 14}},
        yaxis={"range": [0, 1.05], "title": "entity F1"},
        xaxis={"type": "category"},
        margin={"l": 50, "r": 10, "t": 40, "b": 40},
        height=260,
        showlegend=False,
    )
    return figure
