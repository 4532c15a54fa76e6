"""Tag normalisation, label maps and aligning a dataset's tags with a model's labels."""

from __future__ import annotations

import json
import random

import pytest

from explainer.data.example import Example, LoadedDataset
from explainer.data.labels import (
    TAG_SCHEMES,
    align_labels,
    from_iob2,
    is_scheme_tag,
    is_valid_tag,
    label_map_template,
    map_tag,
    read_label_map,
    read_scheme,
    to_iob2,
)
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


def test_align_labels_lists_every_label_and_wraps_the_model_labels():
    types = [f"T{i:02d}" for i in range(14)]
    dataset = make_dataset([f"B-{t}" for t in types])
    model_labels = ["O", *(f"{prefix}-MODELTYPE{i:02d}" for i in range(20) for prefix in "BI")]
    with pytest.raises(ExplainerError) as caught:
        align_labels(dataset, model_labels)
    message, details = str(caught.value), caught.value.details
    assert ", ".join(f"B-{t}" for t in types) + ";" in message and "more" not in message
    assert "the model's 41 labels are listed below" in message and "--write-label-map-template" in message
    lines = details.split("\n")
    assert len(lines) > 2 and all(len(line) <= 100 for line in lines)
    assert lines[0].startswith("  the model's labels (41): O, B-MODELTYPE00")
    assert details.replace("\n    ", " ").split(": ", 1)[1].split(", ") == model_labels


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
    with pytest.raises(
        ExplainerError, match=r"12 dataset label\(s\) unknown .* I-person, I-product; the model's 9 labels"
    ):
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


# --- tag schemes ----------------------------------------------------------------------------------------

# One dataset written in each scheme: "John Smith met Mary in Paris , Acme Corp Ltd", then two adjacent
# persons "Ann Bob".
IOB2 = [
    ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "O", "B-ORG", "I-ORG", "I-ORG"],
    ["B-PER", "B-PER"],
]
WRITTEN = {
    "iob2": IOB2,
    "iob1": [
        ["I-PER", "I-PER", "O", "I-PER", "O", "I-LOC", "O", "I-ORG", "I-ORG", "I-ORG"],
        ["I-PER", "B-PER"],
    ],
    "bioes": [
        ["B-PER", "E-PER", "O", "S-PER", "O", "S-LOC", "O", "B-ORG", "I-ORG", "E-ORG"],
        ["S-PER", "S-PER"],
    ],
    "bilou": [
        ["B-PER", "L-PER", "O", "U-PER", "O", "U-LOC", "O", "B-ORG", "I-ORG", "L-ORG"],
        ["U-PER", "U-PER"],
    ],
}


@pytest.mark.parametrize("scheme", TAG_SCHEMES)
def test_each_scheme_is_detected_written_and_read_back(scheme):
    written = WRITTEN[scheme]
    assert read_scheme(written) == scheme
    assert read_scheme(written, scheme) == scheme
    assert [to_iob2(tags) for tags in written] == IOB2
    assert [from_iob2(tags, scheme) for tags in IOB2] == written


def random_iob2(rng, length):
    tags = [rng.choice(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-A-B", "I-A-B"]) for _ in range(length)]
    return to_iob2(tags)  # valid IOB2: an I- always continues its type


@pytest.mark.parametrize("scheme", TAG_SCHEMES)
def test_iob2_to_a_scheme_and_back_is_the_identity(scheme):
    rng = random.Random(17)
    sequences = [random_iob2(rng, rng.randint(0, 12)) for _ in range(3000)]
    written = [from_iob2(tags, scheme) for tags in sequences]
    assert [to_iob2(tags) for tags in written] == sequences
    read_scheme(written, scheme)  # the written sequences are valid in the scheme
    assert all(is_scheme_tag(tag) for tags in written for tag in tags)


def test_a_dataset_of_only_iob2_entities_and_o_is_iob2():
    assert read_scheme([["O", "O"], ["B-X", "I-X"]]) == "iob2"
    assert read_scheme([["O"], []]) == "iob2"


@pytest.mark.parametrize(
    ("sequences", "scheme", "fragments"),
    [
        ([["B-PER", "E-PER"], ["O", "U-LOC"]], "auto", ["example 1, word 1: tag 'U-LOC' is BILOU", "'E-PER'"]),
        ([["S-LOC"], ["B-PER", "O"]], "auto", ["example 1, word 1: 'O' follows 'B-PER'", "E-PER", "S-LOC"]),
        ([["S-LOC", "I-PER"]], "auto", ["word 1: 'I-PER' continues no entity", "B-PER"]),
        ([["B-PER", "I-PER"], ["S-X"]], "auto", ["example 0, word 1: the example ends on 'I-PER'", "E-PER"]),
        ([["U-PER", "L-PER"]], "auto", ["word 1: 'L-PER' continues no entity (BILOU opens one with B-PER"]),
        ([["B-PER", "O"]], "bioes", ["'O' follows 'B-PER'", "as --tag-scheme bioes says"]),
        ([["S-PER"]], "iob2", ["tag 'S-PER' is BIOES, not IOB2", "--tag-scheme bioes"]),
        ([["U-PER"]], "bioes", ["tag 'U-PER' is BILOU, not BIOES"]),
    ],
)
def test_tags_that_mix_schemes_are_refused_with_the_place(sequences, scheme, fragments):
    with pytest.raises(ExplainerError) as caught:
        read_scheme(sequences, scheme)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_from_iob2_leaves_o_and_other_forms_alone():
    assert from_iob2(["O", "weird", "B-X"], "bioes") == ["O", "weird", "S-X"]
    with pytest.raises(ValueError):
        from_iob2(["O"], "iobes")


# --- label maps that cannot be wrong silently ------------------------------------------------------------


def test_a_label_map_key_that_matches_nothing_is_named_with_the_closest_tags():
    dataset = make_dataset(["B-person", "I-person", "O", "B-musical-artist"])
    label_map = {"person": "PER", "musician": "MISC", "B-persn": "B-PER", "zzz": "O", "O": "O"}
    with pytest.raises(ExplainerError) as caught:
        align_labels(dataset, CONLL_LABELS, label_map=label_map)
    message = str(caught.value)
    assert "'musician' (closest: musical-artist" in message
    assert "'B-persn' (closest: B-person" in message
    assert "'zzz'" in message and "'person'" not in message.split(";")[0]  # keys that match are not listed
    assert "musical-artist, person" in message


def test_a_label_map_key_may_name_a_type_only_the_label_list_declares():
    dataset = make_dataset(["B-person", "O"])
    dataset.label_names = ["O", "B-person", "I-person", "B-place", "I-place"]
    aligned = align_labels(dataset, CONLL_LABELS, label_map={"person": "PER", "place": "LOC"})
    assert aligned.examples[0].tags == ("B-PER", "O")
    # A full tag of a dataset type is a key even when the data never writes it (no two-word person here).
    aligned = align_labels(dataset, CONLL_LABELS, label_map={"B-person": "B-PER", "I-person": "I-PER"})
    assert aligned.examples[0].tags == ("B-PER", "O")


def test_the_label_map_template_lists_everything_and_reads_back_once_filled(tmp_path):
    dataset_tags = {"O", "B-person", "I-person", "B-LOC", "I-LOC"}
    template = label_map_template(dataset_tags, CONLL_LABELS)
    assert template["// model labels"] == CONLL_LABELS
    assert template["// model entity types"] == ["LOC", "MISC", "ORG", "PER"]
    assert template["// dataset tags (IOB2)"] == sorted(dataset_tags)
    mapping = {key: value for key, value in template.items() if not key.startswith("//")}
    assert mapping == {"LOC": "LOC", "person": ""}  # a type the model has is filled in; the others wait
    path = tmp_path / "map.json"
    path.write_text(json.dumps(template))
    with pytest.raises(ExplainerError, match="the value of 'person' must be a non-empty string"):
        read_label_map(path)
    template["person"] = "PER"
    path.write_text(json.dumps(template))
    assert read_label_map(path) == {"LOC": "LOC", "person": "PER"}  # the // notes are left out


def test_the_label_map_template_of_a_model_with_generic_labels_asks_for_every_tag():
    template = label_map_template({"B-x", "I-x"}, ["LABEL_0", "LABEL_1", "LABEL_2"])
    assert {key: value for key, value in template.items() if not key.startswith("//")} == {
        "B-x": "",
        "I-x": "",
        "O": "",
    }
