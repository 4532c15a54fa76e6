"""``explainer check``: the data checks on a dataset as it loads, with or without the model."""

from __future__ import annotations

import pytest
from helpers import write_conll

from explainer.cli import main

SENTENCES = [
    [("Ann", "I-PER"), ("met", "O"), ("Bob", "B-PER")],  # I- opening an entity in a file read as IOB2
    [("Ann", "B-PER"), ("met", "O"), ("Bob", "B-PER")],
    [("Ann", "B-PER"), ("met", "O"), ("Bob", "B-PER")],  # a duplicate
    [("Oslo", "B-LOC"), ("is", "O"), ("cold", "O")],
]


def counts(output: str) -> dict[str, int]:
    """{check: count} from the report's check lines."""
    found = {}
    for line in output.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[1].replace(",", "").isdigit() and not line.startswith(" "):
            found[parts[0]] = int(parts[1].replace(",", ""))
    return found


def test_without_a_model_the_dataset_checks_run_on_load(tmp_path, capsys):
    data = write_conll(tmp_path / "data.conll", SENTENCES)
    assert main(["check", "--dataset", str(data), "--tag-scheme", "iob2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{data}: 4 examples (conll, tags iob2); the dataset's own checks")
    assert counts(out) == {
        "shared_affix": 0,
        "i_after_o": 1,
        "long_entity": 0,
        "type_without_spans": 0,
        "duplicate_example": 2,
        "empty_example": 0,
    }
    assert "e.g. data.conll:1" in out  # where the I- repair is


def test_with_a_model_every_check_of_the_build_runs(tmp_path, tiny_model, capsys):
    data = write_conll(tmp_path / "data.conll", SENTENCES)
    assert main(["check", "--dataset", str(data), "--model", str(tiny_model), "--tag-scheme", "iob2"]) == 0
    found = counts(capsys.readouterr().out)
    assert {"unknown_token", "long_split", "normaliser_case", "model_type_absent", "windowed_example"} <= set(found)
    assert found["i_after_o"] == 1 and found["model_type_absent"] >= 1  # the tiny model knows ORG and MISC too


def test_a_prefixed_dataset_is_the_builds_one_line_error(tmp_path, capsys):
    data = write_conll(tmp_path / "wikiann.conll", [[(f"en:{w}", t) for w, t in s] for s in SENTENCES])
    assert main(["check", "--dataset", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "--strip-prefix en:" in err
    assert main(["check", "--dataset", str(data), "--strip-prefix", "en:"]) == 0


@pytest.mark.parametrize("option", ["--out", "--projection"])
def test_options_of_the_cache_are_not_checks(tmp_path, option, capsys):
    with pytest.raises(SystemExit):
        main(["check", "--dataset", "x", option, "y"])


def test_a_spacy_docbin_is_checked_as_it_loads(tmp_path, capsys):
    import spacy
    from spacy.tokens import Doc, DocBin, Span

    nlp, docs = spacy.blank("en"), DocBin()
    for _ in range(2):  # the same Doc twice: a duplicate
        doc = Doc(nlp.vocab, words=["Ann", "met", "Bob"])
        doc.ents = [Span(doc, 0, 1, label="PER"), Span(doc, 2, 3, label="PER")]
        docs.add(doc)
    docs.to_disk(tmp_path / "dev.spacy")
    assert main(["check", "--dataset", str(tmp_path / "dev.spacy")]) == 0
    out = capsys.readouterr().out
    assert "2 examples (spacy, tags iob2)" in out and counts(out)["duplicate_example"] == 1
    assert "e.g. dev.spacy[1]" in out
