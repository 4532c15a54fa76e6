"""Merging corrections back into the dataset file byte for byte, and `explainer merge` (explainer.review.merge)."""

from __future__ import annotations

import json
import re

import pytest
from helpers import decision

from explainer.cli import main
from explainer.data.example import Example
from explainer.data.loaders import load_dataset
from explainer.errors import ExplainerError
from explainer.review.corrections import (
    ACCEPT_GOLD,
    append_decision,
    read_decisions,
)
from explainer.review.merge import merge_bytes

CONLL = (
    "-DOCSTART- -X- -X- O\n"
    "\n"
    "EU NNP B-NP B-ORG\n"
    "rejects VBZ B-VP O\n"
    "German JJ B-NP B-MISC\n"
    "call NN I-NP O\n"
    "\n"
    "Peter\tNNP\tB-NP\tB-PER\n"
    "Blackburn\tNNP\tI-NP\tI-PER  \n"
    "visited VBD B-VP O\n"
    "Paris NNP B-NP O\n"
    "\n"
    "-DOCSTART- -X- -X- O\n"
    "\n"
    "BRUSSELS NNP B-NP B-LOC\n"
    "1996-08-22 CD I-NP O\n"
)


def test_merge_conll_rewrites_only_the_corrected_tags(tmp_path):
    source = tmp_path / "data.conll"
    source.write_bytes(CONLL.encode("utf-8"))
    words = ["Peter", "Blackburn", "visited", "Paris"]
    decisions = [
        decision(words, ["B-PER", "I-PER", "O", "O"], ["B-PER", "I-PER", "O", "B-LOC"]),
        decision(
            ["EU", "rejects", "German", "call"],
            ["B-ORG", "O", "B-MISC", "O"],
            ["B-ORG", "O", "B-MISC", "O"],
            kind=ACCEPT_GOLD,
        ),
        decision(["not", "in", "data"], ["O"] * 3, ["B-PER", "O", "O"]),
    ]
    data, report = merge_bytes(str(source), decisions)
    merged = data.decode("utf-8")
    expected = CONLL.replace("Paris NNP B-NP O\n", "Paris NNP B-NP B-LOC\n")
    assert merged == expected  # everything else byte-for-byte: extra columns, tabs, trailing blanks, DOCSTART
    assert (report.corrected, report.unchanged, report.reviewed_unchanged) == (1, 2, 1)
    assert report.unmatched == [decisions[2]["key"]] and report.stale == []


def test_merge_keeps_crlf_and_bom(tmp_path):
    source = tmp_path / "data.conll"
    source.write_bytes(b"\xef\xbb\xbf" + b"Anna B-PER\r\ncame O\r\n\r\nBob O\r\n")
    data, report = merge_bytes(str(source), [decision(["Anna", "came"], ["B-PER", "O"], ["B-LOC", "O"])])
    assert data == b"\xef\xbb\xbf" + b"Anna B-LOC\r\ncame O\r\n\r\nBob O\r\n"
    assert report.corrected == 1


def test_merge_writes_iob1_into_an_iob1_file(tmp_path):
    source = tmp_path / "iob1.conll"
    text = "Peter I-PER\nBlackburn I-PER\nmet O\nJohn I-PER\nSmith B-PER\n\nRome I-LOC\n"
    source.write_text(text, encoding="utf-8")
    words = ["Peter", "Blackburn", "met", "John", "Smith"]
    original = ["B-PER", "I-PER", "O", "B-PER", "B-PER"]  # as the loader normalised them (IOB2)
    assert load_dataset(str(source)).examples[0].tags == tuple(original)
    data, _ = merge_bytes(str(source), [decision(words, original, ["B-ORG", "I-ORG", "O", "B-PER", "B-PER"])])
    assert data.decode() == text.replace("Peter I-PER\nBlackburn I-PER", "Peter I-ORG\nBlackburn I-ORG")
    # A new entity right after one of its own type needs B- in IOB1.
    data, _ = merge_bytes(str(source), [decision(words, original, ["B-PER", "I-PER", "B-PER", "B-PER", "B-PER"])])
    assert data.decode().split("\n")[2] == "met B-PER"


def test_merge_maps_labels_back_to_the_dataset_and_writes_ids(tmp_path):
    labels = ["O", "B-person", "I-person", "B-location", "I-location", "B-product", "I-product"]
    records = [
        {"tokens": ["Anna", "bought", "iPhone", "in", "Oslo"], "ner_tags": [1, 0, 5, 0, 0], "labels": labels},
        {"tokens": ["Bob", "slept"], "ner_tags": [1, 0]},
    ]
    source = tmp_path / "mapped.jsonl"
    lines = [json.dumps(record) for record in records]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    label_map = {"person": "PER", "location": "LOC", "product": "O"}
    words = records[0]["tokens"]
    original = ["B-PER", "O", "O", "O", "O"]  # the cache's view: product dropped to O
    corrected = ["B-PER", "O", "O", "O", "B-LOC"]
    data, report = merge_bytes(str(source), [decision(words, original, corrected, identity={"label_map": label_map})])
    out = data.decode().split("\n")
    assert json.loads(out[0])["ner_tags"] == [1, 0, 5, 0, 3]  # product kept, location added, as ids
    assert json.loads(out[0])["labels"] == labels
    assert out[1] == lines[1] and report.corrected == 1
    # Two dataset types behind one model type: the merge cannot guess and says so.
    ambiguous = {"person": "PER", "location": "PER", "product": "O"}
    with pytest.raises(ExplainerError, match="cannot be written in the dataset's labels"):
        merge_bytes(
            str(source),
            [
                decision(
                    words,
                    ["B-PER", "O", "O", "O", "O"],
                    ["B-PER", "O", "O", "O", "B-PER"],
                    identity={"label_map": ambiguous},
                )
            ],
        )


def test_merge_prodigy_rewrites_spans_of_the_corrected_record_only(tmp_path):
    records = [
        {"text": "Anna  lives in Oslo", "spans": [{"start": 0, "end": 4, "label": "PER"}], "meta": {"id": 1}},
        {"text": "rejected one", "spans": [], "answer": "reject"},
        {"text": "Bob slept", "spans": []},
    ]
    source = tmp_path / "prodigy.jsonl"
    lines = [json.dumps(record) for record in records]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data, report = merge_bytes(
        str(source), [decision(["Anna", "lives", "in", "Oslo"], ["B-PER", "O", "O", "O"], ["B-PER", "O", "O", "B-LOC"])]
    )
    out = data.decode().split("\n")
    record = json.loads(out[0])
    assert [(s["start"], s["end"], s["label"]) for s in record["spans"]] == [(0, 4, "PER"), (15, 19, "LOC")]
    assert record["meta"] == {"id": 1} and out[1:] == lines[1:] + [""]
    assert (
        load_dataset(str(source)).examples[0].words_hash
        == Example(("Anna", "lives", "in", "Oslo"), ("O",) * 4).words_hash
    )
    assert report.corrected == 1


def test_merge_command_reports_and_refuses_to_overwrite_its_input(tmp_path, capsys):
    source = tmp_path / "data.conll"
    source.write_bytes(CONLL.encode("utf-8"))
    corrections = tmp_path / "c.corrections.jsonl"
    append_decision(corrections, decision(["BRUSSELS", "1996-08-22"], ["B-LOC", "O"], ["B-ORG", "O"]))
    append_decision(corrections, decision(["gone"], ["O"], ["B-PER"]))
    out = tmp_path / "merged.conll"
    assert main(["merge", "--dataset", str(source), "--corrections", str(corrections), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "examples corrected: 1" in err and "examples unchanged: 2" in err and "matched nothing: 1" in err
    assert out.read_bytes() == CONLL.replace("BRUSSELS NNP B-NP B-LOC", "BRUSSELS NNP B-NP B-ORG").encode()
    before = source.read_bytes()
    assert main(["merge", "--dataset", str(source), "--corrections", str(corrections), "--out", str(source)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "input dataset" in err
    assert source.read_bytes() == before
    # Another form: written whole from the loaded examples (Prodigy-style JSONL), corrections applied.
    jsonl = tmp_path / "merged.jsonl"
    assert (
        main(
            [
                "merge",
                "--dataset",
                str(source),
                "--corrections",
                str(corrections),
                "--out",
                str(jsonl),
                "--format",
                "jsonl",
            ]
        )
        == 0
    )
    assert [e.tags for e in load_dataset(str(jsonl)).examples][-1] == ("B-ORG", "O")


def test_merge_from_the_review_database_equals_the_merge_of_the_corrections_file_it_imported(tmp_path, capsys):
    from explainer.review.store import open_store

    source = tmp_path / "data.conll"
    source.write_bytes(CONLL.encode("utf-8"))
    cache = tmp_path / "val"  # no manifest: the merge reads only the decisions
    legacy = tmp_path / "val.corrections.jsonl"
    append_decision(legacy, decision(["BRUSSELS", "1996-08-22"], ["B-LOC", "O"], ["B-PER", "O"]))
    append_decision(legacy, decision(["BRUSSELS", "1996-08-22"], ["B-LOC", "O"], ["B-ORG", "O"]))
    store = open_store(cache)  # imports the corrections file
    assert len(store.history()) == 2
    outputs = {}
    for name, corrections in (("jsonl", legacy), ("sqlite", tmp_path / "val.review.sqlite"), ("url", store.url)):
        out = tmp_path / f"merged-{name}.conll"
        assert main(["merge", "--dataset", str(source), "--corrections", str(corrections), "--out", str(out)]) == 0
        outputs[name] = out.read_bytes()
    assert outputs["jsonl"] == outputs["sqlite"] == outputs["url"]
    assert b"BRUSSELS NNP B-NP B-ORG" in outputs["url"]  # the settled (latest) decision
    capsys.readouterr()
    missing = tmp_path / "nothing.review.sqlite"
    assert main(["merge", "--dataset", str(source), "--corrections", str(missing), "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_merge_keeps_a_dropped_zero_width_word_inside_its_entity(tmp_path):
    source = tmp_path / "zw.conll"
    text = "New B-LOC\n\u200b I-LOC\nYork I-LOC\nrocks O\n"
    source.write_text(text, encoding="utf-8")
    assert load_dataset(str(source)).examples[0].words == ("New", "York", "rocks")
    data, report = merge_bytes(
        str(source), [decision(["New", "York", "rocks"], ["B-LOC", "I-LOC", "O"], ["B-ORG", "I-ORG", "O"])]
    )
    assert data.decode("utf-8") == text.replace("LOC", "ORG") and report.corrected == 1


def test_merge_jsonl_with_named_columns_keeps_other_fields(tmp_path):
    records = [
        {"id": 7, "toks": ["Anna", "sang"], "labs": ["O", "O"], "tags": "not the tags"},
        {"id": 8, "toks": ["Bob", "ran"], "labs": ["B-PER", "O"], "tags": "x"},
    ]
    source = tmp_path / "named.jsonl"
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data, report = merge_bytes(
        str(source), [decision(["Anna", "sang"], ["O", "O"], ["B-PER", "O"])], tokens_column="toks", tags_column="labs"
    )
    out = data.decode("utf-8").split("\n")
    assert json.loads(out[0]) == {**records[0], "labs": ["B-PER", "O"]} and out[1] == lines[1]


# --- tag schemes: corrections go back in the file's own scheme ---------------------------------------------

BIOES = (
    "-DOCSTART- -X- O\n"
    "\n"
    "Peter NNP S-PER\n"
    "Blackburn NNP S-PER\n"
    "visited VBD O\n"
    "New NNP B-LOC\n"
    "York NNP E-LOC\n"
    "\n"
    "Acme\tB-ORG\r\n"
    "New\tI-ORG\r\n"
    "Corp\tE-ORG \r\n"
    "\n"
    "Paris NNP S-LOC\n"
)


def test_merge_writes_bioes_into_a_bioes_file_and_keeps_every_other_byte(tmp_path):
    source = tmp_path / "bioes.conll"
    source.write_bytes(BIOES.encode("utf-8"))
    words = ["Peter", "Blackburn", "visited", "New", "York"]
    original = ["B-PER", "B-PER", "O", "B-LOC", "I-LOC"]
    assert load_dataset(str(source)).examples[0].tags == tuple(original)
    # Two persons become one; the location loses its last word.
    corrected = ["B-PER", "I-PER", "O", "B-LOC", "O"]
    data, report = merge_bytes(str(source), [decision(words, original, corrected)])
    assert report.corrected == 1
    expected = BIOES.replace("Peter NNP S-PER\nBlackburn NNP S-PER", "Peter NNP B-PER\nBlackburn NNP E-PER")
    expected = expected.replace("New NNP B-LOC\nYork NNP E-LOC", "New NNP S-LOC\nYork NNP O")
    assert data.decode("utf-8") == expected
    # A three-word entity split into a two-word one and a new one-word entity of another type.
    acme = ["Acme", "New", "Corp"]
    data, _ = merge_bytes(str(source), [decision(acme, ["B-ORG", "I-ORG", "I-ORG"], ["B-ORG", "I-ORG", "B-MISC"])])
    assert data.decode("utf-8") == BIOES.replace("New\tI-ORG\r\nCorp\tE-ORG ", "New\tE-ORG\r\nCorp\tS-MISC ")


def test_merge_writes_bilou_ids_into_a_bilou_jsonl_file(tmp_path):
    labels = ["O", "B-X", "I-X", "L-X", "U-X"]
    lines = [
        json.dumps({"tokens": ["a", "b", "c"], "ner_tags": [1, 2, 3], "labels": labels}),
        json.dumps({"tokens": ["d", "e"], "ner_tags": [4, 0]}),
    ]
    source = tmp_path / "bilou.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dataset = load_dataset(str(source))
    assert dataset.extra["tag_scheme"] == "bilou"
    data, _ = merge_bytes(str(source), [decision(["a", "b", "c"], ["B-X", "I-X", "I-X"], ["B-X", "O", "B-X"])])
    merged = data.decode("utf-8").split("\n")
    assert json.loads(merged[0])["ner_tags"] == [4, 0, 4]  # U-X O U-X
    assert merged[1:] == lines[1:] + [""]


def test_merge_refuses_a_corrections_line_whose_tags_are_not_the_caches(tmp_path, capsys):
    source = tmp_path / "data.conll"
    source.write_bytes(CONLL.encode("utf-8"))
    corrections = tmp_path / "c.corrections.jsonl"
    append_decision(corrections, decision(["BRUSSELS", "1996-08-22"], ["B-LOC", "O"], ["B-ORG", "O"]))
    append_decision(corrections, decision(["BRUSSELS", "1996-08-22"], ["B-LOC", "O"], ["<script>", "O"]))
    out = tmp_path / "merged.conll"
    args = ["merge", "--dataset", str(source), "--corrections", str(corrections), "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: {corrections}:2: the corrected tag '<script>' of word 1 is not a tag")
    assert not out.exists()


@pytest.mark.parametrize(
    ("corrected", "labels", "fragment"),
    [
        (["B-FOO", "O"], ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG"], "'B-FOO' of word 1 is not one of the cache's"),
        (["O", "I-LOC"], None, "'I-LOC' of word 2 opens an entity (IOB2 opens one with B-LOC)"),
        (["B-LOC", "I-ORG"], None, "'I-ORG' of word 2 opens an entity"),
    ],
)
def test_merge_checks_corrected_tags_against_the_labels_and_iob2(tmp_path, corrected, labels, fragment):
    source = tmp_path / "data.conll"
    source.write_bytes(CONLL.encode("utf-8"))
    decisions = [decision(["BRUSSELS", "1996-08-22"], ["B-LOC", "O"], corrected)]
    with pytest.raises(ExplainerError, match="corrections: decision 1: the corrected tag " + re.escape(fragment)):
        merge_bytes(str(source), decisions, labels=labels)
    assert merge_bytes(str(source), decisions[:0], labels=labels)[0] == CONLL.encode()


WIKIANN = "en:Ann B-PER\nen:met O\nen:Bob O\n\nen:Oslo B-LOC\n"


@pytest.mark.parametrize("given", ["option", "manifest"])
def test_merge_matches_a_build_that_stripped_a_prefix_and_keeps_the_prefix_in_the_file(tmp_path, capsys, given):
    """The cache's examples (and so the decisions' keys) are the stripped words: merge strips the same
    prefix, from --strip-prefix or from the build's options in the manifest beside the corrections."""
    source = tmp_path / "wikiann.conll"
    source.write_bytes(WIKIANN.encode())
    corrections = tmp_path / "cache.corrections.jsonl"
    append_decision(corrections, decision(["Ann", "met", "Bob"], ["B-PER", "O", "O"], ["B-PER", "O", "B-PER"]))
    args = ["merge", "--dataset", str(source), "--corrections", str(corrections), "--out", str(tmp_path / "out")]
    if given == "option":
        args += ["--strip-prefix", "en:"]
    else:
        (tmp_path / "cache").mkdir()
        manifest = {"options": {"subcommand": "build", "dataset": str(source), "strip_prefix": "en:"}}
        (tmp_path / "cache" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert main(args) == 0
    assert (tmp_path / "out").read_text(encoding="utf-8") == WIKIANN.replace("en:Bob O", "en:Bob B-PER")
    assert "examples corrected: 1" in capsys.readouterr().err
    _, unstripped = merge_bytes(str(source), read_decisions(corrections))
    assert unstripped.corrected == 0 and len(unstripped.unmatched) == 1  # without it, nothing matches


def test_a_model_error_decision_leaves_the_example_as_it_was(tmp_path):
    from explainer.review.corrections import MODEL_ERROR

    source = tmp_path / "data.conll"
    source.write_bytes(CONLL.encode("utf-8"))
    words, tags = ["Peter", "Blackburn", "visited", "Paris"], ["B-PER", "I-PER", "O", "O"]
    data, report = merge_bytes(str(source), [decision(words, tags, tags, kind=MODEL_ERROR)])
    assert data.decode("utf-8") == CONLL
    assert (report.corrected, report.reviewed_unchanged) == (0, 1)
