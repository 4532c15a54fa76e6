"""Figures of the Slices section: bars with their intervals, red when wholly below the overall F1, the overall
line; a slice of yours beside the rest of the dataset."""

from __future__ import annotations

import pandas as pd
import pytest

from explainer.figures.slices import BAR, BELOW, bucket_figure, own_slice_figure


def test_bucket_bars_carry_intervals_buckets_and_the_overall_line():
    rows = pd.DataFrame(
        {
            "bucket": ["2", "1"],
            "order": [1, 0],
            "f1": [0.9, 0.3],
            "f1_low": [0.85, 0.2],
            "f1_high": [0.95, 0.4],
            "support": [40, 1200],
        }
    )
    figure = bucket_figure(rows, attribute="length", title="Length", overall_f1=0.6)
    bar = figure.data[0]
    assert list(bar.x) == ["1", "2"] and list(bar.y) == [0.3, 0.9]  # bucket order
    assert list(bar.error_y.array) == pytest.approx([0.1, 0.05]) and list(bar.error_y.arrayminus) == pytest.approx(
        [0.1, 0.05]
    )
    assert list(bar.marker.color) == [BELOW, BAR] and list(bar.text) == ["1,200", "40"]
    assert list(bar.customdata[0][:2]) == ["length", "1"]
    (line,) = figure.layout.shapes
    assert line.y0 == line.y1 == 0.6 and line.line.dash == "dash"
    assert figure.layout.annotations[0].text == "overall 0.60"


def test_an_own_slice_is_drawn_beside_the_rest_of_the_dataset():
    row = {
        "name": "tweets",
        "f1": 0.4,
        "f1_low": 0.3,
        "f1_high": 0.5,
        "support": 80,
        "rest_f1": 0.8,
        "rest_f1_low": 0.78,
        "rest_f1_high": 0.82,
        "rest_support": 5000,
    }
    bar = own_slice_figure(row, overall_f1=0.75).data[0]
    assert list(bar.x) == ["tweets", "rest of the dataset"] and list(bar.y) == [0.4, 0.8]
    assert list(bar.marker.color) == [BELOW, BAR]
    assert list(bar.error_y.array) == pytest.approx([0.1, 0.02])
