"""Data checks: each check fires on data planted to trip it, at the planted places, and stays quiet on clean data."""

from __future__ import annotations

from explainer.analysis import data_checks as checks

CLEAN = [("John", "visited", "Paris"), ("Acme", "won", ".")]


def test_a_prefix_on_most_words_is_found_with_the_fix():
    words = ["en:John", "en:visited", "en:Paris", "."]
    finding = checks.shared_affix(words)
    assert finding.count == 3
    assert "'en:'" in finding.message and "--strip-prefix en:" in finding.message


def test_a_suffix_on_most_words_is_found():
    finding = checks.shared_affix(["John|x", "visited|x", "Paris|y"])
    assert finding.count == 2 and "end with '|x'" in finding.message  # 2 of 3 is most
    assert "remove it from the word column" in finding.message


def test_no_affix_on_ordinary_words_nor_below_the_share():
    assert checks.shared_affix([w for example in CLEAN for w in example]).count == 0
    assert checks.shared_affix(["en:John", "en:Paris", "visited", "Acme"]).count == 0  # half is not most
    assert checks.shared_affix([]).count == 0


def test_unknown_and_empty_words_point_at_their_places():
    words = checks.WordLocations.of([("a", "☃", "b"), ("☃",), ("\u200b", "c")])
    unknown = checks.unknown_words(words, {"☃"}, unk_token="[UNK]")
    assert unknown.count == 2
    assert list(zip(unknown.example_ids, unknown.word_indexes)) == [(0, 1), (1, 0)]
    assert "[UNK]" in unknown.message
    empty = checks.words_without_subwords(words, {"\u200b"})
    assert (empty.count, empty.example_ids, empty.word_indexes) == (1, (2,), (0,))


def test_words_split_into_more_subwords_than_the_limit():
    words = checks.WordLocations.of([("short", "https://example.org/x"), ("https://example.org/x",)])
    finding = checks.long_splits(words, {"short": 1, "https://example.org/x": 12}, limit=8)
    assert finding.count == 2 and finding.example_ids == (0, 1) and finding.word_indexes == (1, 0)
    assert checks.long_splits(words, {"short": 1, "https://example.org/x": 8}, limit=8).count == 0


def test_what_the_normaliser_changes_is_told_apart():
    assert checks.normaliser_change("Paris", "paris") == {"case"}
    assert checks.normaliser_change("café", "cafe") == {"accents"}
    assert checks.normaliser_change("Zürich", "zurich") == {"case", "accents"}
    assert checks.normaliser_change("ﬁle", "file") == {"unicode_form"}  # the ligature fi
    assert checks.normaliser_change("e\u0301", "\u00e9") == {"unicode_form"}  # decomposed -> composed
    assert checks.normaliser_change("a\x7fb", "ab") == {"other"}
    assert checks.normaliser_change("北京", " 北  京 ") == set()  # BERT's spaces around CJK characters


def test_normaliser_findings_count_word_occurrences_per_change():
    words = checks.WordLocations.of([("Paris", "café", "Paris"), ("paris",)])
    findings = {
        f.check: f for f in checks.normaliser_changes(words, {"Paris": "paris", "café": "cafe", "paris": "paris"})
    }
    assert set(findings) == {f"normaliser_{change}" for change in checks.NORMALISER_CHANGES}
    assert findings["normaliser_case"].count == 2 and findings["normaliser_case"].word_indexes == (0, 2)
    assert findings["normaliser_accents"].count == 1
    assert findings["normaliser_unicode_form"].count == findings["normaliser_other"].count == 0
    assert "'Paris' -> 'paris'" in findings["normaliser_case"].message


def test_i_after_o_or_another_type_is_an_iob2_violation():
    assert checks.iob2_violations(["I-PER", "O", "I-LOC", "B-PER", "I-ORG", "B-LOC", "I-LOC"]) == [0, 2, 4]
    assert checks.iob2_violations(["B-PER", "I-PER", "O"]) == []
    finding = checks.iob2_repairs([(0, 2), (3, 0)])
    assert finding.count == 2 and finding.example_ids == (0, 3) and "I-" in finding.message


def test_entities_longer_than_the_limit():
    tags = [["B-ORG"] + ["I-ORG"] * 11, ["B-PER", "I-PER", "O", "B-LOC"] + ["I-LOC"] * 10]
    finding = checks.long_entities(tags, limit=10)
    assert (finding.count, finding.example_ids, finding.word_indexes) == (2, (0, 1), (0, 3))
    assert checks.long_entities(tags, limit=12).count == 0


def test_declared_types_without_spans_and_model_types_absent():
    gold = [["B-PER", "O"], ["B-LOC"]]
    missing = checks.types_without_spans(["O", "B-PER", "I-PER", "B-LOC", "B-MISC", "I-MISC"], gold)
    assert missing.count == 1 and "MISC" in missing.message
    absent = checks.model_types_absent(["O", "B-PER", "B-LOC", "B-ORG", "I-ORG"], gold)
    assert absent.count == 1 and "ORG" in absent.message
    assert checks.model_types_absent(["O", "B-PER", "B-LOC"], gold).count == 0


def test_types_the_label_map_drops():
    dataset = [["B-musician", "I-musician", "O"], ["B-PER"]]
    mapped = [["O", "O", "O"], ["B-PER"]]
    finding = checks.types_dropped_by_map(dataset, mapped)
    assert finding.count == 2 and finding.example_ids == (0, 0) and "musician (2 words)" in finding.message
    assert checks.types_dropped_by_map(mapped, mapped).count == 0


def test_duplicate_empty_and_windowed_examples():
    duplicates = checks.duplicate_examples([("a", "b"), ("c",), ("a", "b"), ("a", "b")])
    assert duplicates.count == 2 and duplicates.example_ids == (2, 3)
    assert duplicates.word_indexes == (checks.WORD_LEVEL, checks.WORD_LEVEL)
    assert checks.duplicate_examples(CLEAN).count == 0
    assert checks.empty_examples(3).count == 3
    windowed = checks.windowed_examples([False, True, False], max_length=512)
    assert windowed.count == 1 and windowed.example_ids == (1,) and "512" in windowed.message


def test_locations_are_capped_but_the_count_is_not():
    words = checks.WordLocations.of([("x",)] * (checks.MAX_LOCATIONS + 5))
    finding = checks.long_splits(words, {"x": 20})
    assert finding.count == checks.MAX_LOCATIONS + 5 and len(finding.example_ids) == checks.MAX_LOCATIONS
