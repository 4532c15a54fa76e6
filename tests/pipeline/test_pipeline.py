"""`explainer build` end to end on the tiny model: tables, arrays, metrics, windows (explainer.pipeline)."""

import json

import numpy as np
import pandas as pd
import pytest
from helpers import LABELS, fixture_sentences, make_tiny_model, write_conll
from seqeval.metrics import classification_report

from explainer.cache import schema
from explainer.cache.reader import open_cache
from explainer.cli import main

# The columns and dtypes schema.py promises (pandas dtype kinds: i int, f float, b bool, O/str text).
COLUMNS = {
    "examples": {
        "example_id": "int64",
        "source": "str",
        "words_hash": "str",
        "text": "str",
        "words": "list",
        "gold_tags": "list",
        "pred_tags": "list",
        "n_words": "int32",
        "n_subwords": "int32",
        "subword_offset": "int64",
        "word_offset": "int64",
        "windowed": "bool",
        "total_loss": "float32",
        "mean_loss": "float32",
        "n_gold_spans": "int32",
        "n_pred_spans": "int32",
        "n_correct_spans": "int32",
        "n_errors": "int32",
        "n_word_errors": "int32",
        "precision": "float32",
        "recall": "float32",
        "f1": "float32",
    },
    "words": {
        "example_id": "int64",
        "word_index": "int32",
        "word": "str",
        "gold": "str",
        "pred": "str",
        "gold_id": "int16",
        "pred_id": "int16",
        "loss": "float32",
        "prob_pred": "float32",
        "prob_gold": "float32",
        "subword_row": "int64",
        "n_subwords": "int16",
    },
    "subwords": {
        "example_id": "int64",
        "position": "int32",
        "token": "str",
        "input_id": "int32",
        "word_index": "int32",
        "label_id": "int16",
        "pred_id": "int16",
        "prob_pred": "float32",
        "prob_gold": "float32",
        "loss": "float32",
        "window": "int16",
    },
    "spans": {"example_id": "int64", "source": "str", "start": "int32", "end": "int32", "type": "str"},
    "span_errors": {
        "example_id": "int64",
        "category": "str",
        "type": "str",
        "gold_start": "Int32",
        "gold_end": "Int32",
        "gold_type": "str",
        "pred_start": "Int32",
        "pred_end": "Int32",
        "pred_type": "str",
    },
}


def dtype_name(series: pd.Series) -> str:
    if pd.api.types.is_string_dtype(series.dtype) and not pd.api.types.is_object_dtype(series.dtype):
        return "str"
    if pd.api.types.is_object_dtype(series.dtype):
        first = series.dropna().iloc[0] if series.notna().any() else None
        return "str" if isinstance(first, str) else "list"
    return str(series.dtype)


@pytest.fixture(scope="module")
def cache(tiny_cache):
    return open_cache(tiny_cache)


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_model):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    return AutoModelForTokenClassification.from_pretrained(tiny_model).eval(), AutoTokenizer.from_pretrained(tiny_model)


def test_manifest_holds_every_key_and_the_counts(cache, tiny_dataset, tiny_model):
    manifest = json.loads((cache.path / schema.MANIFEST).read_text())
    sentences = fixture_sentences()
    assert tuple(manifest) == schema.MANIFEST_KEYS + schema.OPTIONAL_MANIFEST_KEYS
    assert manifest["schema_version"] == schema.SCHEMA_VERSION
    assert manifest["labels"] == LABELS
    assert manifest["counts"]["examples"] == len(sentences)
    assert manifest["counts"]["words"] == sum(len(sentence) for sentence in sentences)
    assert manifest["counts"]["subwords"] == len(cache.subwords) == cache.probs.shape[0]
    assert manifest["counts"]["windowed"] == 1
    assert manifest["model"]["id"] == str(tiny_model) and len(manifest["model"]["files_sha256"]) == 64
    assert manifest["model"]["max_length"] == 64 and manifest["model"]["hidden_size"] == 32
    assert manifest["dataset"]["format"] == "conll" and len(manifest["dataset"]["fingerprint"]) == 64
    assert manifest["command"].startswith(f"explainer build --model {tiny_model} --dataset {tiny_dataset} --out ")
    assert set(manifest["timings"]) >= {"load", "tokenize", "forward", "write", "total"}
    assert manifest["settings"]["batch_size"] == 32 and manifest["settings"]["device"] == "cpu"
    counts = cache.spans.source.value_counts()
    assert manifest["counts"]["gold_spans"] == counts["gold"] and manifest["counts"]["pred_spans"] == counts["pred"]


@pytest.mark.parametrize("name", list(COLUMNS))
def test_tables_have_the_schema_columns_and_dtypes(cache, name):
    frame = cache.table(name)
    assert {column: dtype_name(frame[column]) for column in frame} == COLUMNS[name]


def test_arrays_are_plain_npy_of_the_right_shape(cache):
    probs = np.load(cache.path / schema.PROBS, mmap_mode="r", allow_pickle=False)
    hidden = np.load(cache.path / schema.HIDDEN, mmap_mode="r", allow_pickle=False)
    n_subwords = cache.manifest["counts"]["subwords"]
    assert probs.dtype == np.float32 and probs.shape == (n_subwords, len(LABELS))
    assert hidden.dtype == np.float16 and hidden.shape == (n_subwords, 32)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert np.isfinite(hidden).all() and (np.abs(hidden).sum(axis=1) > 0).all()  # every row was filled
    subwords = cache.subwords
    np.testing.assert_array_equal(probs.argmax(axis=1), subwords.pred_id)
    np.testing.assert_allclose(probs.max(axis=1), subwords.prob_pred, rtol=1e-6)


def test_subword_gold_columns_follow_ign(cache):
    subwords = cache.subwords
    labelled = subwords.label_id != schema.IGN
    assert subwords.prob_gold[~labelled].isna().all() and subwords.loss[~labelled].isna().all()
    rows = np.flatnonzero(labelled)
    probs = cache.probs[rows, subwords.label_id[labelled].to_numpy()]
    np.testing.assert_allclose(subwords.prob_gold[labelled], probs, rtol=1e-5)
    np.testing.assert_allclose(subwords.loss[labelled], -np.log(probs), rtol=1e-4)
    assert (subwords.word_index[subwords.token.isin(["[CLS]", "[SEP]"])] == -1).all()


def test_words_agree_with_their_first_subword(cache):
    words, subwords = cache.words, cache.subwords
    first = subwords.iloc[words.subword_row.to_numpy()]
    np.testing.assert_array_equal(first.example_id, words.example_id)
    np.testing.assert_array_equal(first.word_index, words.word_index)
    np.testing.assert_array_equal(first.label_id, words.gold_id)
    np.testing.assert_array_equal(first.pred_id, words.pred_id)
    np.testing.assert_allclose(first.loss, words.loss)
    assert (words.gold == [LABELS[i] for i in words.gold_id]).all()
    assert (words.pred == [LABELS[i] for i in words.pred_id]).all()
    # Exactly one labelled subword per word, and n_subwords counts the word's rows.
    labelled = subwords[subwords.label_id != schema.IGN]
    assert len(labelled) == len(words)
    per_word = subwords[subwords.word_index >= 0].groupby(["example_id", "word_index"]).size()
    np.testing.assert_array_equal(per_word.to_numpy(), words.n_subwords)
    assert (words.n_subwords >= 1).all()


def test_examples_agree_with_words(cache):
    examples, words = cache.examples, cache.words
    sentences = fixture_sentences()
    assert [list(w) for w in examples.words] == [[word for word, _ in s] for s in sentences]
    assert [list(t) for t in examples.gold_tags] == [[tag for _, tag in s] for s in sentences]
    grouped = words.groupby("example_id")
    assert [list(t) for t in examples.pred_tags] == [list(p) for _, p in grouped.pred]
    np.testing.assert_allclose(examples.total_loss, grouped.loss.sum(), rtol=1e-5)
    np.testing.assert_allclose(examples.mean_loss, grouped.loss.mean(), rtol=1e-5)
    np.testing.assert_array_equal(examples.n_word_errors, grouped.apply(lambda g: (g.gold != g.pred).sum()))
    np.testing.assert_array_equal(examples.word_offset, np.r_[0, np.cumsum(examples.n_words)[:-1]])
    np.testing.assert_array_equal(examples.subword_offset, np.r_[0, np.cumsum(examples.n_subwords)[:-1]])
    assert examples.text.iloc[0] == " ".join(examples.words.iloc[0])


def test_metrics_equal_seqeval_computed_from_the_words_table(cache):
    words = cache.words
    gold = [list(g) for _, g in words.groupby("example_id").gold]
    pred = [list(p) for _, p in words.groupby("example_id").pred]
    report = classification_report(gold, pred, output_dict=True, zero_division=0)
    metrics = cache.metrics
    for name, scores in report.items():
        assert metrics["seqeval"][name]["f1"] == pytest.approx(scores["f1-score"])
        assert metrics["seqeval"][name]["support"] == scores["support"]
    assert cache.manifest["headline"]["entity_f1"] == pytest.approx(report["micro avg"]["f1-score"])
    assert metrics["word_accuracy"] == pytest.approx((words.gold == words.pred).mean())
    counts = np.asarray(metrics["confusion"]["counts"])
    assert counts.sum() == len(words) and np.trace(counts) == (words.gold == words.pred).sum()
    assert metrics["labels"] == LABELS and metrics["entity_types"] == ["LOC", "MISC", "ORG", "PER"]


def test_span_errors_are_classified_and_counted(cache):
    errors, examples = cache.span_errors, cache.examples
    assert len(errors) > 0 and set(errors.category) <= set(schema.ERROR_CATEGORIES)
    assert (
        (errors.category != schema.CORRECT).sum()
        == examples.n_errors.sum()
        == cache.manifest["headline"]["span_errors"]
    )
    missed = errors[errors.category == schema.MISSED]
    assert missed.pred_start.isna().all() and missed.gold_start.notna().all()
    spurious = errors[errors.category == schema.SPURIOUS]
    assert spurious.gold_start.isna().all() and (spurious.type == spurious.pred_type).all()
    counted = sum(sum(by_type.values()) for by_type in cache.metrics["error_counts"].values())
    assert counted == len(errors)
    assert examples.n_gold_spans.sum() == (cache.spans.source == "gold").sum()


def test_span_error_categories_add_up_to_the_gold_and_predicted_spans(cache):
    """Every gold and every predicted span is in exactly one record, so precision and recall rebuild
    from the categories (issue 20: a prediction beside a better one was counted nowhere)."""
    errors, counts, headline = cache.span_errors, cache.manifest["counts"], cache.manifest["headline"]
    with_gold, with_pred = errors.gold_start.notna(), errors.pred_start.notna()
    assert with_gold.sum() == counts["gold_spans"] and with_pred.sum() == counts["pred_spans"]
    key = ["example_id", "pred_start", "pred_end", "pred_type"]
    assert not errors[with_pred].duplicated(key).any()
    correct = (errors.category == schema.CORRECT).sum()
    assert correct / with_pred.sum() == pytest.approx(headline["entity_precision"])
    assert correct / with_gold.sum() == pytest.approx(headline["entity_recall"])


def test_a_short_example_matches_a_direct_forward_pass(cache, model_and_tokenizer):
    import torch

    model, tokenizer = model_and_tokenizer
    example = cache.examples.iloc[3]
    encoding = tokenizer(list(example.words), is_split_into_words=True, return_tensors="pt")
    with torch.inference_mode():
        outputs = model(**encoding, output_hidden_states=True)
    rows = slice(example.subword_offset, example.subword_offset + example.n_subwords)
    assert cache.subwords.input_id[rows].tolist() == encoding["input_ids"][0].tolist()
    np.testing.assert_allclose(cache.probs[rows], outputs.logits[0].softmax(-1).numpy(), atol=1e-5)
    np.testing.assert_allclose(cache.hidden[rows], outputs.hidden_states[-1][0].numpy(), atol=2e-2)


def expected_windows(n_body, room, stride):
    """Independent statement of the windowing rule: starts, and the most central window per position."""
    starts, start = [], 0
    while start + room < n_body:
        starts.append(start)
        start += room - stride
    starts.append(n_body - room)
    chosen = []
    for position in range(n_body):
        distances = [min(position - s, s + room - 1 - position) if s <= position < s + room else -1 for s in starts]
        chosen.append(distances.index(max(distances)))
    return starts, chosen


def test_a_long_example_is_windowed_and_stitched_from_the_most_central_window(cache, model_and_tokenizer):
    import torch

    model, tokenizer = model_and_tokenizer
    example = cache.examples[cache.examples.windowed].iloc[0]
    assert example.n_subwords > 64
    rows = cache.subwords.iloc[example.subword_offset : example.subword_offset + example.n_subwords]
    words = cache.words[cache.words.example_id == example.example_id]
    assert len(words) == example.n_words and words.pred.notna().all()

    settings = cache.manifest["settings"]
    room = settings["max_length"] - 2  # [CLS] and [SEP]
    body = rows.input_id.to_numpy()[1:-1]
    starts, chosen = expected_windows(len(body), room, settings["stride"])
    assert len(starts) > 1
    assert rows.window.tolist() == [0] + chosen + [len(starts) - 1]
    for window, start in enumerate(starts):
        ids = [tokenizer.cls_token_id, *body[start : start + room], tokenizer.sep_token_id]
        with torch.inference_mode():
            probs = model(input_ids=torch.tensor([ids])).logits[0].softmax(-1).numpy()
        for position in range(len(body)):
            if chosen[position] == window:
                row = example.subword_offset + 1 + position
                np.testing.assert_allclose(cache.probs[row], probs[1 + position - start], atol=1e-5)
        if window == 0:
            np.testing.assert_allclose(cache.probs[example.subword_offset], probs[0], atol=1e-5)


def test_a_smaller_max_length_windows_more_examples(tmp_path, tiny_model, tiny_dataset):
    out = tmp_path / "small"
    assert (
        main(
            [
                "build",
                "--model",
                str(tiny_model),
                "--dataset",
                str(tiny_dataset),
                "--out",
                str(out),
                "--max-length",
                "12",
                "--stride",
                "3",
                "--batch-size",
                "7",
            ]
        )
        == 0
    )
    cache = open_cache(out)
    assert cache.manifest["settings"] | {"max_length": 12, "stride": 3} == cache.manifest["settings"]
    assert cache.examples.windowed.sum() > 1
    assert "--max-length 12 --stride 3 --batch-size 7" in cache.manifest["command"]
    # Every word still has exactly one prediction, and the words are those of the dataset.
    assert len(cache.words) == cache.manifest["counts"]["words"]
    assert (cache.examples.n_subwords[~cache.examples.windowed] <= 12).all()


def test_a_word_the_tokenizer_drops_is_read_as_unknown(tmp_path, tiny_model):
    # U+0001 is stripped by the BERT normaliser: the word would have no subword at all.
    data = write_conll(tmp_path / "odd.conll", [[("John", "B-PER"), ("\u0001", "O"), ("Paris", "B-LOC")]])
    out = tmp_path / "cache"
    assert main(["build", "--model", str(tiny_model), "--dataset", str(data), "--out", str(out)]) == 0
    cache = open_cache(out)
    assert cache.manifest["counts"]["words_replaced_by_unk"] == 1
    assert cache.words.n_subwords.tolist() == [1, 1, 1]
    assert cache.subwords.token.tolist() == ["[CLS]", "john", "[UNK]", "paris", "[SEP]"]


def test_the_summary_line_reports_the_build(tmp_path, tiny_model, tiny_dataset, capsys):
    assert (
        main(["build", "--model", str(tiny_model), "--dataset", str(tiny_dataset), "--out", str(tmp_path / "c")]) == 0
    )
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"built {tmp_path / 'c'}: 62 examples, ") and "entity F1" in line
    assert "examples/s" in line


@pytest.mark.slow
@pytest.mark.parametrize("corpus, n_examples, n_words", [("conll2003", 3250, 51362), ("wnut17", 1009, 15733)])
def test_the_shared_validation_sets_build(shared_data, tmp_path, corpus, n_examples, n_words):
    data = shared_data / corpus / "validation.txt"
    from explainer.data.loaders import load_dataset

    labels = ["O"] + sorted({tag for e in load_dataset(str(data)).examples for tag in e.tags} - {"O"})
    model = make_tiny_model(tmp_path / "model", labels=labels)
    out = tmp_path / "cache"
    assert main(["build", "--model", str(model), "--dataset", str(data), "--out", str(out), "--batch-size", "64"]) == 0
    cache = open_cache(out)
    counts = cache.manifest["counts"]
    assert (counts["examples"], counts["words"]) == (n_examples, n_words)
    assert len(cache.examples) == n_examples and len(cache.words) == n_words
    assert cache.examples.n_gold_spans.sum() == cache.metrics["seqeval"]["micro avg"]["support"]
    assert cache.probs.shape == (counts["subwords"], len(labels))


def test_a_bioes_file_builds_and_merges_back_in_bioes(tmp_path, tiny_model, capsys):
    from helpers import decision

    from explainer.review.corrections import append_decision, corrections_path

    sentences = [
        [("John", "B-PER"), ("Smith", "E-PER"), ("visited", "O"), ("Paris", "S-LOC"), (".", "O")],
        [("Acme", "B-ORG"), ("Corp", "E-ORG"), ("told", "O"), ("Mary", "S-PER")],
        [("Berlin", "S-LOC"), ("said", "O")],
    ]
    data = write_conll(tmp_path / "bioes.conll", sentences, separator="\t", docstart=True)
    out = tmp_path / "cache"
    assert main(["build", "--model", str(tiny_model), "--dataset", str(data), "--out", str(out)]) == 0
    cache = open_cache(out)
    assert cache.manifest["dataset"]["tag_scheme"] == "bioes"
    assert cache.words.gold.tolist()[:9] == ["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "I-ORG", "O", "B-PER"]
    # A review in the cache's labels (IOB2) goes back into the file in BIOES: "Acme Corp told" is one ORG.
    words, original = ["Acme", "Corp", "told", "Mary"], ["B-ORG", "I-ORG", "O", "B-PER"]
    append_decision(corrections_path(out), decision(words, original, ["B-ORG", "I-ORG", "I-ORG", "B-PER"]))
    merged = tmp_path / "merged.conll"
    args = ["merge", "--dataset", str(data), "--corrections", str(corrections_path(out)), "--out", str(merged)]
    assert main(args) == 0
    before, after = data.read_bytes().split(b"\n"), merged.read_bytes().split(b"\n")
    changed = [(old, new) for old, new in zip(before, after) if old != new]
    assert len(before) == len(after) and changed == [(b"Corp\tE-ORG", b"Corp\tI-ORG"), (b"told\tO", b"told\tE-ORG")]
    # The merge checked the tags against the cache's labels: a label of another model is refused.
    append_decision(corrections_path(out), decision(words, original, ["B-ORG", "I-ORG", "O", "B-person"]))
    capsys.readouterr()
    assert main([*args[:-1], str(tmp_path / "again.conll")]) == 2
    err = capsys.readouterr().err
    assert f"{corrections_path(out)}:2: the corrected tag 'B-person' of word 4 is not one of the cache's labels" in err
    assert not (tmp_path / "again.conll").exists()


def test_write_label_map_template_writes_the_lists_and_builds_nothing(tmp_path, tiny_model, capsys):
    data = write_conll(tmp_path / "wnut.conll", [[("Paris", "B-location"), ("John", "B-person"), ("x", "B-LOC")]])
    template, out = tmp_path / "map.json", tmp_path / "cache"
    args = ["build", "--model", str(tiny_model), "--dataset", str(data), "--out", str(out)]
    capsys.readouterr()
    assert main([*args, "--write-label-map-template", str(template)]) == 0
    assert capsys.readouterr().out.strip().splitlines() == [
        f"wrote a label map template to {template}: fill in its empty values and pass it with --label-map"
    ]
    assert not out.exists()
    written = json.loads(template.read_text(encoding="utf-8"))
    assert written["// model labels"] == LABELS and written["// dataset tags (IOB2)"] == [
        "B-LOC",
        "B-location",
        "B-person",
    ]
    assert {key: value for key, value in written.items() if not key.startswith("//")} == {
        "LOC": "LOC",
        "location": "",
        "person": "",
    }
    # Filled in, it is a label map the build takes.
    written.update(location="LOC", person="PER")
    template.write_text(json.dumps(written), encoding="utf-8")
    assert main([*args, "--label-map", str(template)]) == 0
    assert open_cache(out).words.gold.tolist() == ["B-LOC", "B-PER", "B-LOC"]
