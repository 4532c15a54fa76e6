"""Tag normalisation, label maps and aligning a dataset's tags with a model's labels."""

from __future__ import annotations

import json

import pytest

from explainer.data.example import Example, LoadedDataset
from explainer.data.labels import align_labels, is_valid_tag, map_tag, read_label_map, to_iob2
from explainer.errors import ExplainerError

CONLL_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def make_dataset(*tag_rows, skipped_empty=0):
    examples = [
        Example(words=tuple(f"w{i}" for i in range(len(tags))), tags=tuple(tags), source=f"f.txt:{n}")
        for n, tags in enumerate(tag_rows, start=1)
    ]
    return LoadedDataset(
        examples=examples, spec="f.txt", format="conll", skipped_empty=skipped_empty, extra={"documents": 0}
    )


# --- to_iob2 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tags, expected",
    [
        ([], []),
        (["O", "O"], ["O", "O"]),
        (["I-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"]),  # IOB1 entity opening with I-
        (["I-PER", "B-PER", "I-PER"], ["B-PER", "B-PER", "I-PER"]),  # IOB1 B- between adjacent entities
        (["B-PER", "I-PER", "B-LOC", "I-LOC"], ["B-PER", "I-PER", "B-LOC", "I-LOC"]),  # IOB2 unchanged
        (["B-PER", "I-LOC"], ["B-PER", "B-LOC"]),  # I- of another type opens a span
        (["I-LOC", "O", "I-LOC"], ["B-LOC", "O", "B-LOC"]),  # O breaks an entity
        (["I-creative-work", "I-creative-work"], ["B-creative-work", "I-creative-work"]),  # hyphenated types
    ],
)
def test_to_iob2(tags, expected):
    assert to_iob2(tags) == expected


def test_to_iob2_is_idempotent_and_does_not_touch_its_input():
    tags = ("I-ORG", "I-ORG", "O", "I-MISC")
    once = to_iob2(tags)
    assert tags == ("I-ORG", "I-ORG", "O", "I-MISC")
    assert to_iob2(once) == once == ["B-ORG", "I-ORG", "O", "B-MISC"]


@pytest.mark.parametrize(
    "tag, valid",
    [
        ("O", True),
        ("B-PER", True),
        ("I-creative-work", True),
        ("B-X", True),
        ("X-PER", False),
        ("B-", False),
        ("PER", False),
        ("o", False),
        ("", False),
        ("B_PER", False),
        ("S-PER", False),
        ("B- ", False),
    ],
)
def test_is_valid_tag(tag, valid):
    assert is_valid_tag(tag) is valid


# --- read_label_map ---------------------------------------------------------------------------------------


def test_read_label_map(tmp_path):
    path = tmp_path / "map.json"
    path.write_text('\ufeff{"person": "PER", "B-corporation": "B-ORG"}', encoding="utf-8")
    assert read_label_map(path) == {"person": "PER", "B-corporation": "B-ORG"}
    assert read_label_map(str(path)) == {"person": "PER", "B-corporation": "B-ORG"}


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"person": "PER",\n "location" "LOC"}', r"map\.json:2: not valid JSON"),
        ('["PER"]', "expected a JSON object"),
        ('{"person": 3}', "the value of 'person' must be a non-empty string"),
        ('{"person": ""}', "the value of 'person' must be a non-empty string"),
    ],
)
def test_read_label_map_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "map.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ExplainerError, match=message):
        read_label_map(path)


def test_read_label_map_missing_or_not_utf8(tmp_path):
    with pytest.raises(ExplainerError, match="does not exist"):
        read_label_map(tmp_path / "nope.json")
    latin = tmp_path / "latin.json"
    latin.write_bytes('{"personne": "PER", "lieu": "LOC é"}'.encode("latin-1"))
    with pytest.raises(ExplainerError, match="re-encode it as UTF-8"):
        read_label_map(latin)


# --- map_tag / align_labels -------------------------------------------------------------------------------


def test_map_tag_prefers_full_tags_then_types():
    label_map = {"person": "PER", "B-person": "B-ORG", "misc": "O", "O": "LABEL_0"}
    assert map_tag("B-person", label_map) == "B-ORG"
    assert map_tag("I-person", label_map) == "I-PER"
    assert map_tag("B-misc", label_map) == "O" and map_tag("I-misc", label_map) == "O"
    assert map_tag("O", label_map) == "LABEL_0"
    assert map_tag("B-location", label_map) == "B-location"


def test_align_labels_by_name_keeps_examples():
    dataset = make_dataset(["B-PER", "I-PER", "O"], ["O", "B-LOC"], skipped_empty=2)
    aligned = align_labels(dataset, CONLL_LABELS)
    assert [e.tags for e in aligned.examples] == [e.tags for e in dataset.examples]
    assert [e.source for e in aligned.examples] == ["f.txt:1", "f.txt:2"]
    assert aligned.label_names == CONLL_LABELS and aligned.skipped_empty == 2
    assert aligned.extra == {"documents": 0} and aligned is not dataset


def test_align_labels_with_type_and_tag_map():
    dataset = make_dataset(["B-person", "I-person", "O", "B-corporation"], ["B-location", "B-product"])
    label_map = {"person": "PER", "location": "LOC", "B-corporation": "B-ORG", "product": "O"}
    aligned = align_labels(dataset, CONLL_LABELS, label_map=label_map)
    assert [e.tags for e in aligned.examples] == [("B-PER", "I-PER", "O", "B-ORG"), ("B-LOC", "O")]
    assert aligned.extra["label_map"] == label_map
    # The input is left as it was.
    assert dataset.examples[0].tags == ("B-person", "I-person", "O", "B-corporation")


def test_align_labels_lists_unknown_labels_and_asks_for_a_map():
    dataset = make_dataset(["B-person", "I-person", "O"], ["B-location"])
    with pytest.raises(ExplainerError) as caught:
        align_labels(dataset, CONLL_LABELS)
    message = str(caught.value)
    assert "3 dataset label(s) unknown to the model: B-location, B-person, I-person;" in message
    assert "--label-map FILE" in message and "JSON" in message
    assert "\n" not in message


def test_align_labels_shows_what_a_map_produced():
    dataset = make_dataset(["B-person", "O"])
    with pytest.raises(ExplainerError, match=r"B-person \(mapped to B-PERSON\)"):
        align_labels(dataset, CONLL_LABELS, label_map={"person": "PERSON"})


def test_align_labels_truncates_long_lists():
    types = [f"T{i:02d}" for i in range(14)]
    dataset = make_dataset([f"B-{t}" for t in types])
    with pytest.raises(ExplainerError) as caught:
        align_labels(dataset, CONLL_LABELS)
    message = str(caught.value)
    assert "B-T00, B-T01" in message and "B-T09 and 4 more" in message and "B-T10" not in message


def test_align_labels_generic_model_labels_need_a_map():
    generic = [f"LABEL_{i}" for i in range(3)]
    dataset = make_dataset(["B-PER", "I-PER", "O"])
    with pytest.raises(ExplainerError, match=r"generic \(LABEL_0\.\.LABEL_2\).*--label-map FILE"):
        align_labels(dataset, generic)
    aligned = align_labels(dataset, generic, label_map={"O": "LABEL_0", "B-PER": "LABEL_1", "I-PER": "LABEL_2"})
    assert aligned.examples[0].tags == ("LABEL_1", "LABEL_2", "LABEL_0")
    with pytest.raises(ExplainerError, match=r"I-PER"):
        align_labels(dataset, generic, label_map={"O": "LABEL_0", "B-PER": "LABEL_1"})


def test_align_labels_wnut_against_conll_model(shared_data):
    from explainer.data.loaders import load_dataset

    wnut = load_dataset(str(shared_data / "wnut17" / "validation.txt"))
    with pytest.raises(ExplainerError, match=r"12 dataset label\(s\) unknown .* and 2 more"):
        align_labels(wnut, CONLL_LABELS)
    label_map = {
        "person": "PER",
        "location": "LOC",
        "corporation": "ORG",
        "group": "ORG",
        "creative-work": "MISC",
        "product": "MISC",
    }
    aligned = align_labels(wnut, CONLL_LABELS, label_map=label_map)
    assert aligned.tag_set() <= set(CONLL_LABELS)
    gold_persons = sum(tag == "B-person" for e in wnut.examples for tag in e.tags)
    assert sum(tag == "B-PER" for e in aligned.examples for tag in e.tags) == gold_persons == 470


def test_label_map_file_round_trip(tmp_path):
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"person": "PER"}), encoding="utf-8")
    aligned = align_labels(make_dataset(["B-person"]), CONLL_LABELS, label_map=read_label_map(path))
    assert aligned.examples[0].tags == ("B-PER",)
