"""Figures of the Slices section (pure: data in, plotly Figure out)."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd
import plotly.graph_objects as go

BAR = "#4e79a7"
BELOW = "#e15759"  # a bucket whose whole interval is below the overall F1
OVERALL = "#555555"


def overall_line(overall_f1: float) -> dict:
    """The overall F1 as a dashed line across the plot, labelled at its right end (``add_hline``'s shapes,
    written out: ``add_hline`` takes several times as long as the rest of a small figure)."""
    return {
        "shapes": [
            {
                "type": "line",
                "xref": "x domain",
                "x0": 0,
                "x1": 1,
                "yref": "y",
                "y0": overall_f1,
                "y1": overall_f1,
                "line": {"color": OVERALL, "dash": "dash"},
            }
        ],
        "annotations": [
            {
                "text": f"overall {overall_f1:.2f}",
                "showarrow": False,
                "xref": "x domain",
                "x": 1,
                "xanchor": "right",
                "yref": "y",
                "y": overall_f1,
                "yanchor": "bottom",
            }
        ],
    }


def bucket_figure(rows: pd.DataFrame, *, attribute: str, title: str, overall_f1: float) -> go.Figure:
    """F1 per bucket of one attribute with its 95% interval as error bars and the overall F1 as a line.

    ``rows`` are the attribute's rows of the stored bucket scores (one type), in bucket order. Each bar
    carries ``[attribute, bucket]`` in customdata, so a click names the bucket; a bar whose interval lies
    wholly below the overall F1 is red.
    """
    return go.Figure(bucket_figure_json(rows, attribute=attribute, title=title, overall_f1=overall_f1))


def bucket_figure_json(rows: pd.DataFrame, *, attribute: str, title: str, overall_f1: float) -> dict:
    """:func:`bucket_figure` as the plotly JSON a ``dcc.Graph`` takes, with the default template, built without
    plotly's validation and copies (~0.2 ms instead of ~10: the Slices section draws a dozen per entity type
    on demand)."""
    rows = rows.sort_values("order")
    buckets = [str(bucket) for bucket in rows["bucket"]]
    f1 = rows["f1"].to_numpy()
    above = (rows["f1_high"].to_numpy() - f1).clip(min=0).tolist()  # lists: readable in the JSON sent
    below = (f1 - rows["f1_low"].to_numpy()).clip(min=0).tolist()
    colours = [BELOW if high < overall_f1 else BAR for high in rows["f1_high"]]
    bar = {
        "type": "bar",
        "x": buckets,
        "y": f1.tolist(),
        "marker": {"color": colours},
        "error_y": {"type": "data", "symmetric": False, "array": above, "arrayminus": below, "color": "#333333"},
        "text": [f"{support:,}" for support in rows["support"]],
        "textposition": "inside",
        "customdata": [
            [attribute, bucket, float(low), float(high), int(support)]
            for bucket, low, high, support in zip(buckets, rows["f1_low"], rows["f1_high"], rows["support"])
        ],
        "hovertemplate": "%{x}<br>F1 %{y:.3f} [%{customdata[2]:.3f}, %{customdata[3]:.3f}]"
        "<br>%{customdata[4]:,} spans<br>click: its errors<extra></extra>",
    }
    layout = {
        "title": {"text": title, "font": {"size": 14}},
        "yaxis": {"range": [0, 1.05], "title": {"text": "entity F1"}},
        "xaxis": {"type": "category"},
        "margin": {"l": 50, "r": 10, "t": 40, "b": 40},
        "height": 260,
        "showlegend": False,
        **overall_line(overall_f1),
    }
    return {"data": [bar], "layout": {**layout, "template": default_template()}}


@lru_cache(maxsize=1)
def default_template() -> dict:
    """Plotly's default template as JSON (read-only: shared by every figure built here)."""
    import plotly.io as pio

    template: dict = pio.templates[pio.templates.default].to_plotly_json()
    return template


def own_slice_figure(row: dict, *, overall_f1: float) -> go.Figure:
    """F1 of a slice you named and of the rest of the dataset, each with its 95% interval, and the overall F1.

    ``row`` is one row of :func:`explainer.analysis.own_slices.own_slice_scores` (as a dict).
    """
    names = [str(row["name"]), "rest of the dataset"]
    f1 = [float(row["f1"]), float(row["rest_f1"])]
    lows = [float(row["f1_low"]), float(row["rest_f1_low"])]
    highs = [float(row["f1_high"]), float(row["rest_f1_high"])]
    supports = [int(row["support"]), int(row["rest_support"])]
    colours = [BELOW if high < overall_f1 else BAR for high in highs]
    bar = {
        "type": "bar",
        "x": names,
        "y": f1,
        "marker": {"color": colours},
        "error_y": {
            "type": "data",
            "symmetric": False,
            "array": [max(high - value, 0.0) for high, value in zip(highs, f1)],
            "arrayminus": [max(value - low, 0.0) for low, value in zip(lows, f1)],
            "color": "#333333",
        },
        "text": [f"{support:,} spans" for support in supports],
        "textposition": "inside",
        "customdata": [[low, high, support] for low, high, support in zip(lows, highs, supports)],
        "hovertemplate": "%{x}<br>F1 %{y:.3f} [%{customdata[0]:.3f}, %{customdata[1]:.3f}]"
        "<br>%{customdata[2]:,} spans<extra></extra>",
    }
    layout = {
        "yaxis": {"range": [0, 1.05], "title": {"text": "entity F1"}},
        "xaxis": {"type": "category"},
        "margin": {"l": 50, "r": 10, "t": 20, "b": 40},
        "height": 240,
        "showlegend": False,
        **overall_line(overall_f1),
    }
    return go.Figure({"data": [bar], "layout": layout})
