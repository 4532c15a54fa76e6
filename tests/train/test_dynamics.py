"""``explainer train --record-dynamics``: per-epoch gold probability and margin of every training word."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import write_conll

from explainer.cli import main
from explainer.data.example import Example
from explainer.errors import ExplainerError
from explainer.train.dynamics import DYNAMICS_FILE, DynamicsRecorder, read_dynamics, write_dynamics
from explainer.train.trainer import read_record
from tests.train.test_trainer import make_sentences


def test_recorder_keeps_gold_probability_and_margin_of_labelled_positions_only():
    examples = [Example(("a", "b"), ("O", "B-x")), Example(("c",), ("B-x",))]
    recorder = DynamicsRecorder(examples, [[0, 1], [0]], epochs=2)
    # batch: example 1 then example 0; positions: [CLS] w0 (w1) [SEP]; labels IGN elsewhere
    logits = torch.log(
        torch.tensor(
            [
                [[0.5, 0.5], [0.2, 0.8], [0.5, 0.5], [0.5, 0.5]],
                [[0.5, 0.5], [0.9, 0.1], [0.3, 0.7], [0.5, 0.5]],
            ]
        )
    )
    labels = torch.tensor([[-100, 1, -100, -100], [-100, 0, 1, -100]])
    recorder.add(1, torch.tensor([1, 0]), logits, labels)
    np.testing.assert_allclose(recorder.gold_prob[:, 0], [0.9, 0.7, 0.8], rtol=1e-5)
    np.testing.assert_allclose(recorder.margin[:, 0], [0.8, 0.4, 0.6], rtol=1e-5)
    assert np.isnan(recorder.gold_prob[:, 1]).all()  # epoch 2 not run yet

    table = recorder.table(train_fingerprint="abc", labels=["O", "B-x"])
    assert table.column("gold").to_pylist() == ["O", "B-x", "B-x"]
    assert table.column("words_hash").to_pylist()[2] == examples[1].words_hash


def test_a_dynamics_table_round_trips_and_a_damaged_one_is_refused(tmp_path):
    examples = [Example(("a", "b"), ("O", "B-x"))]
    recorder = DynamicsRecorder(examples, [[0, 1]], epochs=3)
    for epoch in (1, 2):
        recorder.add(epoch, torch.tensor([0]), torch.zeros(1, 2, 2), torch.tensor([[0, 1]]))
    write_dynamics(recorder.table(train_fingerprint="f", labels=["O", "B-x"]), tmp_path)
    metadata, columns = read_dynamics(tmp_path)
    assert metadata["train_fingerprint"] == "f" and metadata["epochs"] == 2  # the third epoch never ran
    assert columns["gold_prob"].shape == (2, 2)
    np.testing.assert_allclose(columns["gold_prob"], 0.5)
    np.testing.assert_allclose(columns["margin"], 0.0)
    assert read_dynamics(tmp_path / "elsewhere") is None

    (tmp_path / DYNAMICS_FILE).write_text("not parquet")
    with pytest.raises(ExplainerError, match=DYNAMICS_FILE):
        read_dynamics(tmp_path)


def test_record_dynamics_writes_them_beside_the_model_and_counts_in_the_up_to_date_check(tiny_model, tmp_path, capsys):
    data = write_conll(tmp_path / "train.txt", make_sentences(24, seed=7))
    out = tmp_path / "model"
    argv = ["train", "--base", str(tiny_model), "--dataset", str(data), "--out", str(out)]
    argv += ["--epochs", "2", "--batch-size", "8", "--eval-fraction", "0.25"]
    assert main(argv) == 0
    assert not (out / DYNAMICS_FILE).exists()
    capsys.readouterr()
    # Same model and settings, but no dynamics yet: trained again to record them.
    assert main([*argv, "--record-dynamics"]) == 0
    assert "up to date" not in capsys.readouterr().out
    metadata, columns = read_dynamics(out)
    record = read_record(out)
    assert record["dynamics"]["words"] == len(columns["word_index"])
    n_train = record["train_dataset"]["examples"]
    assert metadata["train_fingerprint"] == record["train_dataset"]["fingerprint"]
    assert metadata["epochs"] == 2 and columns["gold_prob"].shape[1] == 2
    # every word of every training example, each seen once per epoch
    assert len(np.unique(columns["example_index"])) == n_train
    assert np.isfinite(columns["gold_prob"]).all() and np.isfinite(columns["margin"]).all()
    assert ((columns["gold_prob"] >= 0) & (columns["gold_prob"] <= 1)).all()
    assert (columns["margin"] <= columns["gold_prob"]).all()
    # the model learns: the gold label's probability rises from epoch 1 to epoch 2
    assert columns["gold_prob"][:, 1].mean() > columns["gold_prob"][:, 0].mean()
    # With dynamics: up to date, with or without the flag.
    assert main([*argv, "--record-dynamics"]) == 0 and "up to date" in capsys.readouterr().out
    assert main(argv) == 0 and "up to date" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "train.txt"]
