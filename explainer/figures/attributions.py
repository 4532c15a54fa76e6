"""Figures of token attributions (pure: data in, plotly Figure or colours out)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go

# Diverging: red pushes towards the explained class, blue away from it, white is neutral.
NEGATIVE_RGB = (33, 102, 172)
POSITIVE_RGB = (178, 24, 43)
COLOURSCALE = [[0.0, "rgb(33,102,172)"], [0.5, "rgb(247,247,247)"], [1.0, "rgb(178,24,43)"]]


def position_labels(tokens: list[str]) -> list[str]:
    """'3 paris' per subword: axis labels stay distinct when a token repeats."""
    return [f"{position} {token}" for position, token in enumerate(tokens)]


def attribution_heatmap(
    matrix: npt.ArrayLike, *, columns: list[str], rows: list[str], row_positions: list[int], title: str = ""
) -> go.Figure:
    """Targets (rows) x input subwords or words (columns), on a diverging scale centred on zero.

    Parameters
    ----------
    matrix : array [n_rows, n_columns]
        Normalised attributions (each row divided by its L2 norm, so values lie in [-1, 1]).
    columns, rows : list of str
        Distinct labels (see :func:`position_labels`).
    row_positions : list of int
        The subword position of each row's target, carried in ``customdata`` for clicks.
    """
    matrix = np.asarray(matrix, dtype=float)
    limit = float(np.abs(matrix).max()) if matrix.size else 1.0
    customdata = [[position] * len(columns) for position in row_positions]
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=columns,
            y=rows,
            colorscale=COLOURSCALE,
            zmid=0,
            zmin=-limit or -1,
            zmax=limit or 1,
            customdata=customdata,
            xgap=1,
            ygap=1,
            colorbar={"title": "attribution"},
            hovertemplate="target %{y}<br>input %{x}<br>attribution %{z:+.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        title=title or None,
        yaxis_autorange="reversed",
        xaxis={"type": "category", "tickangle": -45},
        yaxis={"type": "category"},
        margin={"l": 120, "r": 20, "t": 40 if title else 20, "b": 90},
        height=max(260, 140 + 22 * len(rows)),
    )
    return figure


def diverging_colour(value: float, *, scale: float = 1.0) -> str:
    """Background colour of a token shaded by its attribution: white at 0, red positive, blue negative.

    ``value / scale`` is clipped to [-1, 1]; the colour is blended from white with that weight.
    """
    weight = 0.0 if scale <= 0 else float(np.clip(value / scale, -1.0, 1.0))
    base = POSITIVE_RGB if weight >= 0 else NEGATIVE_RGB
    red, green, blue = (round(255 + abs(weight) * (channel - 255)) for channel in base)
    return f"rgb({red},{green},{blue})"


def text_colour(value: float, *, scale: float = 1.0) -> str:
    """Black on light shades, white on strong ones (readable on every background)."""
    return "#fff" if scale > 0 and abs(value / scale) > 0.6 else "#212529"
