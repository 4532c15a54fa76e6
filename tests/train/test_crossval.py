"""``explainer crossval``: folds by hash of words, K models, one out-of-fold cache, resumable fold by fold."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from helpers import fixture_sentences, write_conll

from explainer.cache import schema
from explainer.cli import main
from explainer.data.example import Example, LoadedDataset
from explainer.errors import ExplainerError
from explainer.train.crossval import FOLDS_FILE, assign_folds, fold_of
from explainer.train.trainer import RECORD

FOLDS = 2
# Few steps at a high rate: fast, and the fold models differ enough to tell whose outputs are whose.
QUICK = [
    "--folds",
    str(FOLDS),
    "--epochs",
    "1",
    "--max-steps",
    "2",
    "--lr",
    "0.005",
    "--train-batch-size",
    "8",
    "--label-quality",
    "none",
]


def dataset_of(words_lists) -> LoadedDataset:
    examples = [Example(tuple(words), tuple("O" for _ in words), f"x:{i}") for i, words in enumerate(words_lists)]
    return LoadedDataset(examples=examples, spec="x", format="conll")


def test_folds_depend_on_words_and_seed_only_and_repeated_sentences_share_a_fold():
    words = [[f"w{i}", "paris"] for i in range(300)] + [["w7", "paris"]]
    dataset = dataset_of(words)
    assignment = assign_folds(dataset, folds=3, seed=0)
    assert np.array_equal(assignment, assign_folds(dataset_of(words), folds=3, seed=0))
    assert assignment[7] == assignment[300]  # the same sentence twice: one fold, no leak into training
    assert all(60 < count < 140 for count in np.bincount(assignment))
    reversed_assignment = assign_folds(dataset_of(words[::-1]), folds=3, seed=0)[::-1]
    assert np.array_equal(assignment, reversed_assignment)  # order of the file does not matter
    assert not np.array_equal(assignment, assign_folds(dataset, folds=3, seed=1))
    with pytest.raises(ExplainerError, match="at least 2"):
        assign_folds(dataset, folds=1, seed=0)
    with pytest.raises(ExplainerError, match="empty"):
        assign_folds(dataset_of([["a"], ["b"]]), folds=5, seed=0)


@pytest.fixture(scope="module")
def crossval_run(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("crossval")
    dataset = write_conll(root / "train.conll", fixture_sentences(30, seed=3))
    out = root / "oof"
    assert main(["crossval", "--base", str(tiny_model), "--dataset", str(dataset), "--out", str(out), *QUICK]) == 0
    return dataset, out, root / "oof-folds"


def _fingerprint(examples: list[tuple]) -> str:
    return LoadedDataset(
        examples=[Example(words, tags, "") for words, tags in examples], spec="", format=""
    ).fingerprint()


def test_no_example_is_scored_by_a_model_trained_on_it(crossval_run):
    dataset, out, work = crossval_run
    manifest = json.loads((out / schema.MANIFEST).read_text())
    assert manifest["out_of_fold"] is True and manifest["crossval"]["folds"] == FOLDS
    assert manifest["command"].startswith("explainer crossval --base ")
    folds = np.load(out / manifest["crossval"]["assignment"], allow_pickle=False)
    examples = pq.read_table(out / schema.EXAMPLES, columns=["words", "gold_tags", "words_hash"]).to_pylist()
    assert len(folds) == len(examples) == manifest["counts"]["examples"]
    items = [(tuple(row["words"]), tuple(row["gold_tags"])) for row in examples]
    recomputed = [fold_of(Example(words, tags, ""), folds=FOLDS, seed=0) for words, tags in items]
    assert folds.tolist() == recomputed
    assert set(folds.tolist()) == set(range(FOLDS))

    for fold, model in enumerate(manifest["crossval"]["models"]):
        record = json.loads((work / f"fold-{fold}" / "model" / RECORD).read_text())
        trained_on = [item for item, f in zip(items, folds) if f != fold]
        # Model `fold` was trained on exactly the examples of the other folds ...
        assert record["train_dataset"]["fingerprint"] == model["train_fingerprint"] == _fingerprint(trained_on)
        assert model["heldout_examples"] == int((folds == fold).sum())
        # ... and none of the examples it scored is among them (not even a repeat of the same words).
        trained_hashes = {row["words_hash"] for row, f in zip(examples, folds) if f != fold}
        assert not trained_hashes & {row["words_hash"] for row, f in zip(examples, folds) if f == fold}
        assert model["model"]["files_sha256"] != manifest["crossval"]["models"][1 - fold]["model"]["files_sha256"]


def test_each_examples_outputs_come_from_its_folds_model(crossval_run):
    """Rerun each fold model on a short example of each fold: only its own fold's model matches the cache."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    _, out, work = crossval_run
    folds = np.load(out / FOLDS_FILE, allow_pickle=False)
    examples = pq.read_table(
        out / schema.EXAMPLES, columns=["words", "subword_offset", "n_subwords", "windowed"]
    ).to_pylist()
    probs = np.load(out / schema.PROBS, mmap_mode="r", allow_pickle=False)
    models = [
        AutoModelForTokenClassification.from_pretrained(work / f"fold-{k}" / "model").eval() for k in range(FOLDS)
    ]
    tokenizer = AutoTokenizer.from_pretrained(work / "fold-0" / "model")
    for fold in range(FOLDS):
        row = next(r for r, f in zip(examples, folds) if f == fold and not r["windowed"])
        stored = probs[row["subword_offset"] : row["subword_offset"] + row["n_subwords"]]
        encoded = tokenizer([row["words"]], is_split_into_words=True, return_tensors="pt")
        with torch.inference_mode():
            outputs = [model(**encoded).logits.softmax(-1)[0].numpy() for model in models]
        distances = [float(np.abs(output - stored).max()) for output in outputs]
        assert distances[fold] < 1e-4, distances
        assert min(d for k, d in enumerate(distances) if k != fold) > 100 * max(distances[fold], 1e-6), distances


def test_a_rerun_skips_finished_folds_redoes_an_incomplete_one_and_refuses_other_inputs(
    crossval_run, tiny_model, capsys
):
    dataset, out, work = crossval_run
    args = ["crossval", "--base", str(tiny_model), "--dataset", str(dataset), "--out", str(out), *QUICK]
    model_files = {path: path.stat().st_mtime_ns for path in work.glob("fold-*/model/*")}
    (work / "fold-1" / "shard" / "shard.json").unlink()  # as if interrupted while scoring fold 1
    capsys.readouterr()
    assert main(args) == 0
    printed = capsys.readouterr()
    text = printed.out + printed.err
    assert "fold 1/2: done in an earlier run; skipped" in text
    assert "fold 2/2: training on" in text and "up to date" in text  # its model is reused, only scoring redone
    assert {path: path.stat().st_mtime_ns for path in work.glob("fold-*/model/*")} == model_files
    assert (work / "fold-1" / "shard" / "shard.json").is_file()
    assert json.loads((out / schema.MANIFEST).read_text())["out_of_fold"] is True

    assert main([*args, "--fold-seed", "1"]) == 2
    assert "holds folds made from other inputs (changed: fold_seed)" in capsys.readouterr().err


def test_an_interrupted_run_says_how_to_resume_and_writes_no_cache(
    crossval_run, tiny_model, tmp_path, monkeypatch, capsys
):
    import explainer.train.trainer as trainer

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "train_model", interrupted)
    dataset, _, _ = crossval_run
    out = tmp_path / "oof"
    assert main(["crossval", "--base", str(tiny_model), "--dataset", str(dataset), "--out", str(out), *QUICK]) == 130
    assert f"kept in {tmp_path / 'oof-folds'}: run the same command again to resume" in capsys.readouterr().err
    assert not out.exists()


def test_entity_disjoint_folds_keep_every_held_out_surface_form_out_of_training():
    from explainer.train.crossval import assign_disjoint_folds, disjoint_training, entity_forms, fold_datasets

    def example(words, tags):
        return Example(words=tuple(words), tags=tuple(tags))

    examples = [
        example(["Germany", "won"], ["B-LOC", "O"]),
        example(["germany", "lost", "to", "Wales"], ["B-LOC", "O", "O", "B-LOC"]),
        example(["Wales", "drew"], ["B-LOC", "O"]),
        example(["Acme", "Corp", "rose"], ["B-ORG", "I-ORG", "O"]),
        example(["nothing", "here"], ["O", "O"]),
        example(["Paris", "again"], ["B-LOC", "O"]),
        example(["Berlin", "too"], ["B-LOC", "O"]),
    ] + [example(["filler", str(i)], ["O", "O"]) for i in range(6)]
    dataset = LoadedDataset(examples=examples, spec="hand-made", format="conll")
    assert entity_forms(examples[3]) == {"acme corp"} and entity_forms(examples[4]) == frozenset()
    assignment = assign_disjoint_folds(dataset, folds=2, seed=0)
    assert (assignment == assign_disjoint_folds(dataset, folds=2, seed=0)).all()  # seeded, stable
    for fold in range(2):
        training = disjoint_training(dataset, assignment, fold)
        held_out_forms = set().union(*(entity_forms(examples[i]) for i in np.flatnonzero(assignment == fold)))
        seen_forms = set().union(*(entity_forms(examples[i]) for i in np.flatnonzero(training)))
        assert not held_out_forms & seen_forms
        assert not training[assignment == fold].any()
        train, held = fold_datasets(dataset, assignment, fold, ["O", "B-LOC", "I-LOC"], training=training)
        assert len(train.examples) == training.sum() and len(held.examples) == (assignment == fold).sum()
