"""spaCy DocBin files (``.spacy``) load through spaCy, the optional extra ``[spacy]``."""

from __future__ import annotations

import sys

import pytest

from explainer.data.loaders import detect_format, load_dataset
from explainer.errors import ExplainerError


def write_docbin(path, examples):
    """A DocBin of one Doc per ``(words, entities)``; an entity is ``(first word, end word, label)``;
    ``entities=None`` leaves the Doc's entities unset (missing, not O)."""
    import spacy  # the dev extra installs the [spacy] extra: make test always runs these
    from spacy.tokens import Doc, DocBin, Span

    nlp = spacy.blank("en")
    docs = DocBin()
    for words, entities in examples:
        doc = Doc(nlp.vocab, words=words)
        if entities is not None:
            doc.ents = [Span(doc, start, end, label=label) for start, end, label in entities]
        docs.add(doc)
    docs.to_disk(path)
    return path


def test_a_docbin_loads_its_words_and_entities_as_iob2(tmp_path):
    path = write_docbin(
        tmp_path / "dev.spacy",
        [
            (["John", "Smith", "visited", "New", "York", "."], [(0, 2, "PER"), (3, 5, "LOC")]),
            (["Acme", "hired", "Ann"], [(0, 1, "ORG"), (2, 3, "PER")]),
            (["nothing", "here"], []),
        ],
    )
    assert detect_format(str(path)) == "spacy"
    dataset = load_dataset(str(path))
    assert dataset.format == "spacy"
    assert [list(zip(example.words, example.tags)) for example in dataset.examples] == [
        [("John", "B-PER"), ("Smith", "I-PER"), ("visited", "O"), ("New", "B-LOC"), ("York", "I-LOC"), (".", "O")],
        [("Acme", "B-ORG"), ("hired", "O"), ("Ann", "B-PER")],
        [("nothing", "O"), ("here", "O")],
    ]
    assert [example.source for example in dataset.examples] == ["dev.spacy[0]", "dev.spacy[1]", "dev.spacy[2]"]
    assert dataset.extra["tag_scheme"] == "iob2" and dataset.extra["unannotated_words"] == 0


def test_unset_entities_read_as_o_and_are_counted(tmp_path):
    dataset = load_dataset(str(write_docbin(tmp_path / "raw.spacy", [(["a", "b", "c"], None)])))
    assert dataset.examples[0].tags == ("O", "O", "O") and dataset.extra["unannotated_words"] == 3


def test_strip_prefix_applies_to_a_docbin(tmp_path):
    path = write_docbin(tmp_path / "wikiann.spacy", [(["en:Paris", "en:is"], [(0, 1, "LOC")])])
    assert load_dataset(str(path), strip_prefix="en:").examples[0].words == ("Paris", "is")


def test_a_file_that_is_not_a_docbin_is_one_clear_error(tmp_path):
    path = tmp_path / "broken.spacy"
    path.write_bytes(b"not zlib, not msgpack")
    with pytest.raises(ExplainerError, match=r"broken\.spacy: not a spaCy DocBin file \(.+\); write one with"):
        load_dataset(str(path))


def test_a_tag_scheme_does_not_apply_to_entity_spans(tmp_path):
    path = write_docbin(tmp_path / "dev.spacy", [(["Ann"], [(0, 1, "PER")])])
    with pytest.raises(ExplainerError, match="spaCy Docs with entity spans, not tags; omit --tag-scheme"):
        load_dataset(str(path), tag_scheme="bioes")


def test_without_spacy_the_error_names_the_extra_to_install(tmp_path, monkeypatch):
    path = write_docbin(tmp_path / "dev.spacy", [(["Ann"], [(0, 1, "PER")])])
    monkeypatch.setitem(sys.modules, "spacy", None)  # import spacy raises ImportError
    with pytest.raises(ExplainerError) as raised:
        load_dataset(str(path))
    assert str(raised.value) == (
        f"{path}: a spaCy DocBin file is read with spaCy, which is not installed: pip install 'ner-explainer[spacy]'"
    )
