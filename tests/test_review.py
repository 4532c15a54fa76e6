"""The review queue's pure parts: corrections file, span edits, exports, the merge and `explainer merge`."""

from __future__ import annotations

import json
import multiprocessing
import warnings

import pytest

from explainer.cli import main
from explainer.data.example import Example
from explainer.data.loaders import load_dataset
from explainer.errors import ExplainerError
from explainer.review import edits
from explainer.review.corrections import (
    ACCEPT_ALL_PREDICTIONS,
    ACCEPT_GOLD,
    EDIT,
    CorrectionsWarning,
    append_decision,
    corrections_path,
    latest_decisions,
    make_decision,
    read_decisions,
    reviewed,
)
from explainer.review.export import apply_corrections, change_summary, conll_text, prodigy_jsonl, span_changes
from explainer.review.merge import merge_bytes, to_iob1

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


def decision(words, original, corrected, *, kind=EDIT, **more):
    return make_decision(
        key=Example(words=tuple(words), tags=tuple(original)).words_hash,
        words=words,
        original=original,
        corrected=corrected,
        kind=kind,
        **more,
    )


# --- edits -----------------------------------------------------------------------------------------------------


def test_span_edits_keep_well_formed_iob2():
    tags = ["B-PER", "I-PER", "O", "B-LOC"]
    assert edits.add_span(tags, 1, 3, "ORG") == ["O", "B-ORG", "I-ORG", "B-LOC"]  # the overlapped PER gives way
    assert edits.remove_spans(tags, 3, 4) == ["B-PER", "I-PER", "O", "O"]
    assert edits.normalised(["O", "I-PER", "I-PER"]) == ["O", "B-PER", "I-PER"]
    assert edits.accept_span(tags, (0, 1, "LOC")) == ["B-LOC", "O", "O", "B-LOC"]
    assert edits.spans_to_accept(tags, ["B-PER", "I-PER", "O", "B-ORG"]) == [(3, 4, "ORG")]
    with pytest.raises(ValueError):
        edits.add_span(tags, 2, 9, "PER")


def test_span_changes_name_each_kind_of_change():
    original = ["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "O"]
    corrected = ["B-PER", "O", "O", "B-ORG", "B-MISC", "O", "O"]
    kinds = sorted(change["change"] for change in span_changes(original, corrected))
    assert kinds == ["boundary changed", "span added", "span removed", "type changed"]
    summary = change_summary(
        latest_decisions([decision(["a"] * 7, original, corrected), decision(["b"], ["O"], ["O"], kind=ACCEPT_GOLD)])
    )
    assert summary["corrected"] == 1 and summary["unchanged"] == 1
    assert summary["changes"]["type changed"] == 1 and summary["changes_by_type"]["LOC"] == {"type changed": 1}


# --- the corrections file ----------------------------------------------------------------------------------------


def test_corrections_file_lives_beside_the_cache_not_inside(tmp_path):
    path = corrections_path(tmp_path / "caches" / "tiny")
    assert path == tmp_path / "caches" / "tiny.corrections.jsonl"
    assert corrections_path(tmp_path / "tiny", tmp_path / "elsewhere").parent == tmp_path / "elsewhere"


def test_latest_decision_wins_and_a_truncated_last_line_is_skipped(tmp_path):
    path = tmp_path / "c.corrections.jsonl"
    append_decision(path, decision(["a", "b"], ["O", "O"], ["B-PER", "O"]))
    append_decision(path, decision(["a", "b"], ["O", "O"], ["B-PER", "I-PER"], reviewer="ann\x07"))
    with open(path, "ab") as handle:  # a writer killed half-way through a line
        handle.write(b'{"version": 1, "key": "abc", "wor')
    with pytest.warns(CorrectionsWarning, match="truncated"):
        decisions = read_decisions(path)
    assert len(decisions) == 2
    latest = latest_decisions(decisions)
    assert list(latest.values())[0]["corrected"] == ["B-PER", "I-PER"]
    assert decisions[1]["reviewer"] == "ann"
    # The next append starts a new line, so it is readable and the broken one stays isolated.
    append_decision(path, decision(["c"], ["O"], ["B-LOC"], kind=ACCEPT_ALL_PREDICTIONS))
    with pytest.warns(CorrectionsWarning):
        assert [d["corrected"] for d in read_decisions(path)][-1] == ["B-LOC"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(reviewed(path).latest) == 2  # the app's reader: silent, cached per file state


def _append_many(path, worker, count):
    for index in range(count):
        append_decision(path, decision([f"w{worker}", str(index)], ["O", "O"], ["B-PER", "O"]))


def test_two_processes_appending_at_once_lose_no_decision(tmp_path):
    path = tmp_path / "c.corrections.jsonl"
    count = 200
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(path, worker, count)) for worker in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every line whole
        decisions = read_decisions(path)
    assert len(decisions) == 2 * count
    assert len(latest_decisions(decisions)) == 2 * count


# --- exports from the cache's examples ---------------------------------------------------------------------------


def test_exports_apply_only_matching_decisions(tmp_path):
    examples = [Example(("Peter", "left"), ("B-PER", "O"), "x:1"), Example(("Anna", "came"), ("O", "O"), "x:4")]
    latest = latest_decisions(
        [
            decision(["Anna", "came"], ["O", "O"], ["B-PER", "O"]),
            decision(["Peter", "left"], ["O", "O"], ["B-LOC", "O"]),
        ]
    )  # stale original
    items = apply_corrections(examples, latest)
    assert [item.tags for item in items] == [("B-PER", "O"), ("B-PER", "O")]
    assert [item.corrected for item in items] == [False, True]
    conll = tmp_path / "out.conll"
    conll.write_text(conll_text(items), encoding="utf-8")
    assert [e.tags for e in load_dataset(str(conll)).examples] == [("B-PER", "O"), ("B-PER", "O")]
    prodigy = tmp_path / "out.jsonl"
    prodigy.write_text(prodigy_jsonl(items), encoding="utf-8")
    reloaded = load_dataset(str(prodigy))
    assert reloaded.format == "prodigy" and [e.tags for e in reloaded.examples] == [("B-PER", "O"), ("B-PER", "O")]


# --- the merge ---------------------------------------------------------------------------------------------------


def _blocks(text: str) -> list[str]:
    return text.split("\n\n")


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
    assert to_iob1(["B-PER", "I-PER", "B-PER", "O", "B-LOC"]) == ["I-PER", "I-PER", "B-PER", "O", "I-LOC"]


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
