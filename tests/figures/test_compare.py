"""The B − A confusion heatmap: red for more errors, the diagonal uncoloured, the true numbers shown."""

from __future__ import annotations

from explainer.analysis.compare import confusion_difference
from explainer.figures.compare import DIFFERENCE_SCALE, confusion_difference_figure


def test_difference_heatmap_diverges_around_zero_and_leaves_the_diagonal_uncoloured():
    found = confusion_difference(
        {"labels": ["LOC", "PER", "none"], "counts": [[5, 0, 2], [1, 6, 0], [0, 3, 0]]},
        {"labels": ["LOC", "PER", "none"], "counts": [[8, 0, 0], [4, 6, 0], [0, 1, 0]]},
    )
    heatmap = confusion_difference_figure(found).data[0]
    z = [list(row) for row in heatmap.z]
    assert [z[i][i] for i in range(3)] == [0, 0, 0]  # LOC right 3 more times: a number, not a colour
    assert heatmap.text[0][0] == "+3" and heatmap.text[1][1] == ""
    assert z[1][0] == 3 and z[0][2] == -2 and z[2][1] == -2  # PER read as LOC more; fewer missed, fewer spurious
    assert heatmap.zmin == -3 and heatmap.zmax == 3  # symmetric: white is "no change"
    assert DIFFERENCE_SCALE[-1][1] == "#b2182b" and DIFFERENCE_SCALE[0][1] == "#2166ac"  # red = more, blue = fewer
    assert list(heatmap.customdata[1][0]) == ["PER", "LOC", 1, 4]
