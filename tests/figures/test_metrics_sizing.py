"""The confusion figure scales with the label set: it grows taller and names every row and column."""

from __future__ import annotations

import numpy as np

from explainer.figures.metrics import CELL_PX, MIN_CONFUSION_HEIGHT, confusion_figure


def labels_of(n_types: int) -> list[str]:
    kinds = [f"type{i:02d}" for i in range(n_types)]
    return ["O"] + [f"{prefix}-{kind}" for kind in kinds for prefix in ("B", "I")]


def test_the_confusion_grows_with_the_labels_and_names_every_row_and_column():
    heights = {}
    for n_types in (2, 13, 20):
        labels = labels_of(n_types)
        counts = np.eye(len(labels)) * 5
        figure = confusion_figure(counts / 5, labels, normalised=True, counts=counts)
        assert list(figure.layout.xaxis.tickvals) == labels and list(figure.layout.yaxis.tickvals) == labels
        assert figure.layout.xaxis.tickmode == "array" and figure.layout.yaxis.automargin
        heights[n_types] = figure.layout.height
    assert heights[2] == MIN_CONFUSION_HEIGHT
    assert heights[13] < heights[20] and heights[20] >= 41 * CELL_PX  # 41 labels: every row at least CELL_PX


def test_empty_cells_carry_no_number():
    labels = ["O", "B-PER", "I-PER"]
    counts = np.array([[9, 1, 0], [0, 3, 0], [0, 0, 2]])
    figure = confusion_figure(counts.astype(float), labels, normalised=False, counts=counts)
    assert list(figure.data[0].text[0]) == ["9", "1", ""] and figure.data[0].text[1][0] == ""
