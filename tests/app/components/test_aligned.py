"""The aligned rows' data: one block per word, one column per subword, classes the stylesheet defines."""

from __future__ import annotations

import json
import math

from helpers import REPO_ROOT

from explainer.analysis.examples import AlignedSubword
from explainer.app.components.aligned import ROW_HEADERS, aligned_blocks, aligned_table
from explainer.app.sections.duplicates import words_table


def data_of(element) -> dict:
    return json.loads(element.to_plotly_json()["props"]["data-aligned"])


def subword(word_index, word, token, first, gold, pred, loss):
    return AlignedSubword(word_index, word, token, first, gold, pred, loss, first and gold != pred)


def test_words_are_blocks_over_their_subword_columns():
    columns = [
        subword(0, "New", "new", True, "B-LOC", "B-LOC", 0.1),
        subword(1, "Yorkers", "york", True, "I-LOC", "O", 3.0),
        subword(1, "Yorkers", "##ers", False, "IGN", "O", math.nan),
        subword(2, "<b>x</b>", "<", True, "O", "O", 0.0),
    ]
    element = aligned_table(columns)
    assert "aligned-example" in element.className and element.children is None  # the script fills it
    data = data_of(element)
    assert data["headers"] == list(ROW_HEADERS)
    assert [block[0] for block in data["blocks"]] == ["New", "Yorkers", "<b>x</b>"]
    assert [len(block[2]) for block in data["blocks"]] == [1, 2, 1]
    assert data["blocks"][1][2] == [
        [["york", ""], ["I-LOC", ""], ["O", "mismatch"], ["3.00", "loss-4"], ["–", "ign"]],  # no confidence read
        [["##ers", "ign"], ["IGN", "ign"], ["O", "ign"], ["IGN", "ign"], ["", "ign"]],
    ]
    assert data["blocks"][2][2][0][3] == ["0.00", ""]  # no shade below 0.4


def test_confidence_and_label_quality_rows_mark_low_scores():
    york = AlignedSubword(1, "Yorkers", "york", True, "I-LOC", "O", 3.0, True, 0.45, 0.02)
    ers = AlignedSubword(1, "Yorkers", "##ers", False, "IGN", "O", math.nan, False)
    new = AlignedSubword(0, "New", "new", True, "B-LOC", "B-LOC", 0.1, False, 0.97, 0.9)
    data = data_of(aligned_table([new, york, ers], scored=True))
    assert data["headers"] == [*ROW_HEADERS, "label quality"]
    assert data["blocks"][0][2][0][4:] == [["0.97", ""], ["0.90", ""]]
    assert data["blocks"][1][2][0][4:] == [["0.45", "low"], ["0.02", "low"]]
    assert data["blocks"][1][2][1][4:] == [["", "ign"], ["", "ign"]]
    assert data_of(aligned_table([new]))["headers"] == list(ROW_HEADERS)  # no label-quality row unscored


def test_duplicate_words_mark_conflicts_and_unmatched_words():
    element = words_table(
        ["a", "b", "c"], [("gold 1", ["O", "B-X", "O"], {1}), ("gold 2", ["O", "O", "O"], set())], unmatched={2}
    )
    data = data_of(element)
    assert data["headers"] == ["word", "gold 1", "gold 2"]
    assert data["blocks"][1] == ["b", "", [[["B-X", "conflict"], ["O", ""]]]]
    assert data["blocks"][2][1] == "unmatched"


def test_every_class_used_is_styled_and_the_script_is_served_from_assets():
    stylesheet = (REPO_ROOT / "assets" / "explainer.css").read_text()
    for name in ("ign", "mismatch", "conflict", "unmatched", "low", *(f"loss-{n}" for n in range(1, 6))):
        assert f".{name}" in stylesheet, name
    script = (REPO_ROOT / "assets" / "aligned.js").read_text()
    assert "textContent" in script and "innerHTML" not in script  # text stays text
    element = aligned_blocks(["word"], [], class_name="extra", id="x")
    assert element.className == "aligned-example extra" and element.id == "x"
