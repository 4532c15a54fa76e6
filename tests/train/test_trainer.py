"""``explainer train``: the deterministic split, the label set, fine-tuning a tiny model, bad input."""

from __future__ import annotations

import json
import random
import shutil

import pytest
from helpers import write_conll

from explainer.cli import main
from explainer.data.example import Example, LoadedDataset
from explainer.errors import ExplainerError
from explainer.train.split import split_dataset
from explainer.train.trainer import (
    RECORD,
    TrainSettings,
    checkpoint_dir,
    label_list,
    progress_line,
    read_record,
    recorded_epoch,
    train_model,
)

PEOPLE = [["john", "smith"], ["mary", "jones"], ["angela", "merkel"], ["emmanuel", "macron"]]
PLACES = [["paris"], ["london"], ["berlin"], ["new", "york", "city"], ["germany"], ["france"]]
COMPANIES = [["acme", "corp"], ["google"], ["apple"], ["microsoft"]]
VERBS = ["visited", "told", "lives in", "won in", "lost in"]
TIMES = ["on monday", "last weekend", "", "at the match"]


def entity(words, kind):
    return [(word, ("B-" if index == 0 else "I-") + kind) for index, word in enumerate(words)]


def make_sentences(count: int, *, seed: int = 0):
    """Varied little sentences with person / organisation / location entities (types of our own)."""
    rng = random.Random(seed)
    sentences = []
    for _ in range(count):
        subject = entity(rng.choice(PEOPLE), "person") if rng.random() < 0.6 else entity(rng.choice(COMPANIES), "org")
        verb = [(word, "O") for word in rng.choice(VERBS).split()]
        place = entity(rng.choice(PLACES), "location")
        time_words = [(word, "O") for word in rng.choice(TIMES).split()]
        sentences.append(subject + verb + place + time_words + [(".", "O")])
    return sentences


def as_dataset(sentences, spec="fixture") -> LoadedDataset:
    examples = [Example(tuple(w for w, _ in s), tuple(t for _, t in s), f"{spec}:{i}") for i, s in enumerate(sentences)]
    return LoadedDataset(examples=examples, spec=spec, format="conll")


def distinct_dataset(count: int) -> LoadedDataset:
    return as_dataset([[(f"w{i}", "O"), ("paris", "B-location"), (f"v{i % 7}", "O")] for i in range(count)])


# --- the split ------------------------------------------------------------------------------------------


def test_split_is_deterministic_near_the_fraction_and_independent_of_order():
    dataset = distinct_dataset(2000)
    train, held_out = split_dataset(dataset, eval_fraction=0.2, seed=0)
    again_train, again_held_out = split_dataset(dataset, eval_fraction=0.2, seed=0)
    assert [e.words for e in held_out.examples] == [e.words for e in again_held_out.examples]
    assert len(train.examples) + len(held_out.examples) == 2000
    assert 0.17 < len(held_out.examples) / 2000 < 0.23

    shuffled = list(dataset.examples)
    random.Random(1).shuffle(shuffled)
    _, shuffled_held_out = split_dataset(LoadedDataset(shuffled, "fixture", "conll"), eval_fraction=0.2, seed=0)
    assert {e.words for e in shuffled_held_out.examples} == {e.words for e in held_out.examples}

    _, other_seed = split_dataset(dataset, eval_fraction=0.2, seed=1)
    assert {e.words for e in other_seed.examples} != {e.words for e in held_out.examples}
    assert held_out.extra["split"] == {
        "part": "eval",
        "eval_fraction": 0.2,
        "seed": 0,
        "of_fingerprint": dataset.fingerprint(),
    }


def test_split_keeps_repeated_sentences_on_one_side():
    sentence = [("john", "B-person"), ("won", "O")]
    dataset = as_dataset([sentence] * 5 + [[(f"w{i}", "O")] for i in range(200)])
    train, held_out = split_dataset(dataset, eval_fraction=0.5, seed=3)
    sides = {("john", "won") in {e.words for e in part.examples} for part in (train, held_out)}
    assert sides == {True, False}


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.2])
def test_split_rejects_a_fraction_outside_zero_one(fraction):
    with pytest.raises(ExplainerError, match="--eval-fraction"):
        split_dataset(distinct_dataset(10), eval_fraction=fraction)


def test_split_of_a_single_example_says_a_part_is_empty():
    with pytest.raises(ExplainerError, match="left one part empty"):
        split_dataset(distinct_dataset(1), eval_fraction=0.2)


# --- labels ---------------------------------------------------------------------------------------------


def test_labels_are_the_data_label_set_sorted_with_o_first():
    dataset = as_dataset(make_sentences(50))
    assert label_list(dataset) == ["O", "B-location", "B-org", "B-person", "I-location", "I-org", "I-person"]


def test_data_without_entity_labels_is_refused():
    with pytest.raises(ExplainerError, match="no entity labels"):
        label_list(as_dataset([[("just", "O"), ("words", "O")]] * 3))


# --- training -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    """One short training run of the tiny model through the CLI (shared by the tests below)."""
    directory = tmp_path_factory.mktemp("train")
    data = write_conll(directory / "train.txt", make_sentences(240), separator="\t")
    out = directory / "model"
    argv = [
        "train",
        "--base",
        str(tiny_model),
        "--dataset",
        str(data),
        "--out",
        str(out),
        "--epochs",
        "3",
        "--lr",
        "2e-3",
        "--batch-size",
        "8",
        "--seed",
        "1",
    ]
    assert main(argv) == 0
    return {"argv": argv, "out": out, "data": data, "directory": directory}


@pytest.mark.slow  # the first user of the `trained` fixture pays for the training run
def test_training_lowers_the_loss_and_records_each_epoch(trained):
    record = json.loads((trained["out"] / RECORD).read_text())
    history = record["history"]
    assert [entry["epoch"] for entry in history] == [0, 1, 2, 3]
    assert history[-1]["eval_loss"] < 0.7 * history[0]["eval_loss"]
    assert history[-1]["train_loss"] < history[1]["train_loss"]
    assert history[-1]["eval_f1"] > history[0]["eval_f1"]
    assert record["train_dataset"]["examples"] + record["eval_dataset"]["examples"] == 240


def test_trained_model_loads_with_the_data_labels(trained):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model = AutoModelForTokenClassification.from_pretrained(trained["out"])
    labels = ["O", "B-location", "B-org", "B-person", "I-location", "I-org", "I-person"]
    assert [model.config.id2label[i] for i in range(len(labels))] == labels  # not the base model's CoNLL labels
    assert model.config.label2id == {label: i for i, label in enumerate(labels)}
    assert AutoTokenizer.from_pretrained(trained["out"]).is_fast
    assert (trained["out"] / "model.safetensors").is_file()


@pytest.mark.slow
def test_explainer_build_reads_the_trained_model(trained):
    from explainer.cache.reader import open_cache

    cache = trained["directory"] / "cache"
    assert main(["build", "--model", str(trained["out"]), "--dataset", str(trained["data"]), "--out", str(cache)]) == 0
    opened = open_cache(cache)
    assert opened.manifest["labels"][0] == "O"
    assert opened.manifest["counts"]["examples"] == 240


def test_second_run_with_same_inputs_is_skipped_and_new_settings_retrain(trained, capsys):
    before = (trained["out"] / "model.safetensors").stat().st_mtime_ns
    assert main(trained["argv"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert (trained["out"] / "model.safetensors").stat().st_mtime_ns == before

    changed = [*trained["argv"], "--max-steps", "2"]
    changed[changed.index(str(trained["out"]))] = str(trained["directory"] / "model-short")
    assert main(changed) == 0
    record = read_record(trained["directory"] / "model-short")
    assert record["history"][-1]["step"] == 2
    assert record["fingerprint"] != read_record(trained["out"])["fingerprint"]


def test_separate_eval_dataset_and_max_steps(tiny_model, tmp_path):
    train_file = write_conll(tmp_path / "train.txt", make_sentences(40, seed=1))
    eval_file = write_conll(tmp_path / "eval.txt", make_sentences(12, seed=2))
    out = tmp_path / "model"
    assert (
        main(
            [
                "train",
                "--base",
                str(tiny_model),
                "--dataset",
                str(train_file),
                "--eval-dataset",
                str(eval_file),
                "--out",
                str(out),
                "--max-steps",
                "3",
                "--batch-size",
                "4",
                "--freeze-embeddings",
            ]
        )
        == 0
    )
    record = read_record(out)
    assert record["settings"]["freeze_embeddings"] is True
    assert record["eval_dataset"]["examples"] == 12 and record["train_dataset"]["examples"] == 40
    assert [entry["step"] for entry in record["history"]] == [0, 3]


def test_training_rewrites_a_model_of_ours_only_when_complete(tiny_model, tmp_path):
    train = as_dataset(make_sentences(30))
    evaluation = as_dataset(make_sentences(8, seed=5))
    out = tmp_path / "model"
    first = train_model(
        base=str(tiny_model),
        train=train,
        evaluation=evaluation,
        out=out,
        settings=TrainSettings(max_steps=1),
        log=lambda line: None,
    )
    second = train_model(
        base=str(tiny_model),
        train=train,
        evaluation=evaluation,
        out=out,
        settings=TrainSettings(max_steps=2),
        log=lambda line: None,
    )
    assert not first.skipped and not second.skipped
    assert read_record(out)["settings"]["max_steps"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging directory left behind


# --- bad input ------------------------------------------------------------------------------------------


@pytest.fixture
def small_data(tmp_path):
    return write_conll(tmp_path / "data.txt", make_sentences(30))


def run_error(argv, capsys) -> str:
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "\n" not in error
    return error


def test_a_base_that_is_not_a_known_encoder_is_refused(tmp_path, small_data, capsys):
    from transformers import T5Config

    unknown = tmp_path / "unknown"
    unknown.mkdir()
    (unknown / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    seq2seq = tmp_path / "t5"
    T5Config(d_model=8, num_layers=1, num_heads=1, d_kv=4, d_ff=8, vocab_size=10).save_pretrained(seq2seq)
    empty = tmp_path / "empty"
    empty.mkdir()
    for base, message in [
        (unknown, "not a model the transformers Auto classes know"),
        (seq2seq, "'t5' is not an encoder"),
        (empty, "not a model the transformers Auto"),
        (tmp_path / "missing", "no such model directory"),
    ]:
        out = tmp_path / f"out-{base.name}"
        error = run_error(["train", "--base", str(base), "--dataset", str(small_data), "--out", str(out)], capsys)
        assert f"--base {base}" in error and message in error
        assert not out.exists()


def test_a_dataset_without_labels_is_refused(tiny_model, tmp_path, capsys):
    all_o = write_conll(tmp_path / "all-o.txt", [[("john", "O"), ("won", "O")]] * 10)
    error = run_error(
        ["train", "--base", str(tiny_model), "--dataset", str(all_o), "--out", str(tmp_path / "m")], capsys
    )
    assert "all-o.txt" in error and "no entity labels" in error
    assert not (tmp_path / "m").exists()


def test_an_output_directory_holding_something_else_is_refused(tiny_model, small_data, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    error = run_error(["train", "--base", str(tiny_model), "--dataset", str(small_data), "--out", str(out)], capsys)
    assert f"--out {out} exists and is not a model written by explainer train" in error
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_eval_dataset_with_labels_the_training_data_lacks_is_refused(tiny_model, small_data, tmp_path, capsys):
    other = write_conll(tmp_path / "other.txt", [[("paris", "B-city"), ("won", "O")]])
    error = run_error(
        [
            "train",
            "--base",
            str(tiny_model),
            "--dataset",
            str(small_data),
            "--eval-dataset",
            str(other),
            "--out",
            str(tmp_path / "m"),
        ],
        capsys,
    )
    assert f"--eval-dataset {other}" in error and "B-city" in error and "--label-map" in error


@pytest.mark.parametrize(
    "option, value", [("--epochs", "0"), ("--batch-size", "0"), ("--lr", "0"), ("--max-steps", "0")]
)
def test_settings_out_of_range_are_refused(tiny_model, small_data, tmp_path, capsys, option, value):
    error = run_error(
        ["train", "--base", str(tiny_model), "--dataset", str(small_data), "--out", str(tmp_path / "m"), option, value],
        capsys,
    )
    assert option in error


def test_train_reads_the_tag_scheme_and_strips_a_prefix_as_build_does(tmp_path):
    """--tag-scheme and --strip-prefix are explainer build's options (same flags and choices) and apply
    to the evaluation data too."""
    from explainer.cli import make_parser
    from explainer.commands.train import load_training_data

    bioes = [[("en:Ann", "S-PER"), ("en:met", "O"), ("en:New", "B-LOC"), ("en:York", "E-LOC")]] * 6
    train_file = write_conll(tmp_path / "train.bioes", bioes)
    eval_file = write_conll(tmp_path / "eval.bioes", bioes[:2])
    argv = ["train", "--base", "m", "--dataset", str(train_file), "--eval-dataset", str(eval_file), "--out", "o"]
    args = make_parser().parse_args([*argv, "--tag-scheme", "bioes", "--strip-prefix", "en:"])
    train, evaluation = load_training_data(args)
    for dataset in (train, evaluation):
        assert dataset.extra["tag_scheme"] == "bioes"
        assert dataset.examples[0].words == ("Ann", "met", "New", "York")
        assert dataset.examples[0].tags == ("B-PER", "O", "B-LOC", "I-LOC")
    with pytest.raises(SystemExit):  # the choices are build's
        make_parser().parse_args([*argv, "--tag-scheme", "bioul"])


def test_save_every_epoch_keeps_each_epochs_model_beside_the_final_one(tiny_model, tmp_path, capsys):
    data = write_conll(tmp_path / "train.txt", make_sentences(24, seed=3))
    out = tmp_path / "model"
    argv = ["train", "--base", str(tiny_model), "--dataset", str(data), "--out", str(out)]
    argv += ["--epochs", "2", "--batch-size", "8", "--save-every-epoch"]
    assert main(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "model-epoch1", "model-epoch2", "train.txt"]
    final = read_record(out)
    for epoch in (1, 2):
        kept = read_record(checkpoint_dir(out, epoch))
        assert kept["epoch"] == epoch and [entry["epoch"] for entry in kept["history"]] == list(range(epoch + 1))
        assert kept["history"] == final["history"][: epoch + 1]
        assert (checkpoint_dir(out, epoch) / "model.safetensors").is_file()
    # The last epoch's model is the final model.
    assert (checkpoint_dir(out, 2) / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
    assert [recorded_epoch(checkpoint_dir(out, 1)), recorded_epoch(checkpoint_dir(out, 2)), recorded_epoch(out)] == [
        1,
        2,
        2,
    ]
    assert recorded_epoch(tiny_model) is None  # not trained by explainer train
    # The checkpoints built in one command, each cache recording its model's epoch (Compare orders by it).
    caches = tmp_path / "caches"
    fast = ["--projection", "none", "--label-quality", "none", "--findings", "none", "--activations-sample", "0"]
    models = ["--model", str(checkpoint_dir(out, 2)), "--model", str(checkpoint_dir(out, 1))]
    assert main(["build", *models, "--dataset", str(data), "--out", str(caches), *fast]) == 0
    epochs = {
        path.name: json.loads((path / "manifest.json").read_text())["model"]["training_epoch"]
        for path in caches.iterdir()
    }
    assert epochs == {"model-epoch1": 1, "model-epoch2": 2}
    # Up to date with its checkpoints: skipped; a checkpoint removed: trained again to bring it back.
    capsys.readouterr()
    assert main(argv) == 0 and "up to date" in capsys.readouterr().out
    shutil.rmtree(checkpoint_dir(out, 1))
    assert main(argv) == 0 and "up to date" not in capsys.readouterr().out
    assert read_record(checkpoint_dir(out, 1))["epoch"] == 1


def test_save_every_epoch_refuses_to_overwrite_a_directory_that_is_not_a_model(tiny_model, tmp_path, capsys):
    data = write_conll(tmp_path / "train.txt", make_sentences(12, seed=4))
    out = tmp_path / "model"
    (tmp_path / "model-epoch1").mkdir()
    (tmp_path / "model-epoch1" / "notes.txt").write_text("mine")
    argv = ["train", "--base", str(tiny_model), "--dataset", str(data), "--out", str(out), "--save-every-epoch"]
    assert main([*argv, "--epochs", "1"]) == 2
    assert "model-epoch1 exists and is not a model" in capsys.readouterr().err
    assert (tmp_path / "model-epoch1" / "notes.txt").read_text() == "mine"


def test_without_a_terminal_training_logs_a_progress_line_every_n_steps(tiny_model, tmp_path):
    """Under pytest stderr is no terminal: no tqdm bar, and a line per ``progress_every`` steps and the last."""
    lines: list[str] = []
    train_model(
        base=str(tiny_model),
        train=as_dataset(make_sentences(30)),
        evaluation=as_dataset(make_sentences(8, seed=5)),
        out=tmp_path / "model",
        settings=TrainSettings(max_steps=5, batch_size=4),
        log=lines.append,
        progress_every=2,
    )
    progress = [line for line in lines if line.startswith("training: step")]
    assert [line.split(",")[0] for line in progress] == [
        "training: step 2/5 (40%)",
        "training: step 4/5 (80%)",
        "training: step 5/5 (100%)",
    ]
    assert all(" loss " in line and "elapsed, about " in line and line.endswith(" left") for line in progress)


def test_progress_line_says_steps_loss_and_time_left():
    assert progress_line(50, 200, 0.41234, 30.0) == (
        "training: step 50/200 (25%), loss 0.4123, 30 s elapsed, about 1 min 30 s left"
    )
    assert progress_line(200, 200, 0.1, 125.0).endswith("2 min 5 s elapsed, about 0 s left")
