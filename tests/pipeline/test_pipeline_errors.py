"""Bad input to `explainer build`: one `error:` line, exit status 2, nothing written at --out."""

import shutil

import pytest
from helpers import write_conll, write_jsonl

from explainer.cli import main

SENTENCES = [[("John", "B-PER"), ("visited", "O"), ("Paris", "B-LOC")], [("Acme", "B-ORG"), ("won", "O")]]


@pytest.fixture
def data(tmp_path):
    return write_conll(tmp_path / "data.conll", SENTENCES)


def run_build(capsys, *args):
    """Run the CLI; return (status, stderr lines)."""
    capsys.readouterr()
    status = main(["build", *map(str, args)])
    return status, capsys.readouterr().err.strip().splitlines()


def assert_refused(status, lines, *fragments):
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def assert_nothing_written(out):
    parent = out.parent
    assert not out.exists()
    assert not [p.name for p in parent.iterdir() if p.name.startswith(f".{out.name}.")]


@pytest.fixture
def model_copy(tiny_model, tmp_path):
    return shutil.copytree(tiny_model, tmp_path / "model")


def test_a_model_directory_without_tokenizer(capsys, model_copy, data, tmp_path):
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (model_copy / name).unlink()
    out = tmp_path / "out"
    status, lines = run_build(capsys, "--model", model_copy, "--dataset", data, "--out", out)
    assert_refused(status, lines, str(model_copy), "has no tokenizer", "save_pretrained")
    assert_nothing_written(out)


def test_a_slow_tokenizer(capsys, model_copy, data, tmp_path):
    from transformers import ByT5Tokenizer  # a tokenizer that exists only in Python (no Rust version)

    for name in ("tokenizer.json", "tokenizer_config.json"):
        (model_copy / name).unlink()
    ByT5Tokenizer().save_pretrained(model_copy)
    out = tmp_path / "out"
    status, lines = run_build(capsys, "--model", model_copy, "--dataset", data, "--out", out)
    assert_refused(status, lines, "ByT5Tokenizer", "not a fast", "word_ids")
    assert_nothing_written(out)


def test_a_missing_model_directory(capsys, data, tmp_path):
    out = tmp_path / "out"
    status, lines = run_build(capsys, "--model", tmp_path / "no-model", "--dataset", data, "--out", out)
    assert_refused(status, lines, "no-model", "does not exist")
    assert_nothing_written(out)


def test_a_model_directory_without_config(capsys, model_copy, data, tmp_path):
    (model_copy / "config.json").unlink()
    out = tmp_path / "out"
    status, lines = run_build(capsys, "--model", model_copy, "--dataset", data, "--out", out)
    assert_refused(status, lines, "config.json")
    assert_nothing_written(out)


def test_labels_the_model_does_not_know(capsys, tiny_model, tmp_path):
    data = write_conll(tmp_path / "wnut.conll", [[("Paris", "B-location"), ("John", "B-person")]])
    out = tmp_path / "out"
    status, lines = run_build(capsys, "--model", tiny_model, "--dataset", data, "--out", out)
    # One error line naming the unknown tags; below it, indented, every model label (wrapped when long).
    assert lines[1:] == ["  the model's labels (9): O, B-PER, I-PER, B-ORG, I-ORG, B-LOC, I-LOC, B-MISC, I-MISC"]
    assert_refused(status, lines[:1], "B-location, B-person;", "--label-map", "--write-label-map-template")
    assert_nothing_written(out)


def test_a_label_map_key_that_matches_nothing(capsys, tiny_model, tmp_path):
    data = write_conll(tmp_path / "wnut.conll", [[("Paris", "B-location"), ("John", "B-person")]])
    label_map = tmp_path / "map.json"
    label_map.write_text('{"location": "LOC", "persn": "PER"}')
    out = tmp_path / "out"
    status, lines = run_build(capsys, "--model", tiny_model, "--dataset", data, "--out", out, "--label-map", label_map)
    assert_refused(status, lines, "--label-map key(s) matching no tag or entity type", "'persn' (closest: person")
    assert_nothing_written(out)


def test_a_label_map_makes_them_known(capsys, tiny_model, tmp_path):
    data = write_conll(tmp_path / "wnut.conll", [[("Paris", "B-location"), ("John", "B-person")]])
    label_map = tmp_path / "map.json"
    label_map.write_text('{"location": "LOC", "person": "PER"}')
    out = tmp_path / "out"
    status, _ = run_build(capsys, "--model", tiny_model, "--dataset", data, "--out", out, "--label-map", label_map)
    assert status == 0
    from explainer.cache.reader import open_cache

    cache = open_cache(out)
    assert cache.words.gold.tolist() == ["B-LOC", "B-PER"]
    assert cache.manifest["dataset"]["label_map"] == {"location": "LOC", "person": "PER"}
    assert f"--label-map {label_map}" in cache.manifest["command"]


def test_a_broken_label_map(capsys, tiny_model, data, tmp_path):
    label_map = tmp_path / "map.json"
    label_map.write_text("{not json")
    out = tmp_path / "out"
    status, lines = run_build(capsys, "--model", tiny_model, "--dataset", data, "--out", out, "--label-map", label_map)
    assert_refused(status, lines, str(label_map))
    assert_nothing_written(out)


def test_an_output_path_that_is_a_file(capsys, tiny_model, data, tmp_path):
    out = tmp_path / "out"
    out.write_text("precious")
    status, lines = run_build(capsys, "--model", tiny_model, "--dataset", data, "--out", out)
    assert_refused(status, lines, str(out), "existing file")
    assert out.read_text() == "precious"


def test_an_output_directory_that_is_not_a_cache(capsys, tiny_model, data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    status, lines = run_build(capsys, "--model", tiny_model, "--dataset", data, "--out", out)
    assert_refused(status, lines, "not an explainer cache", "--force")
    assert (out / "notes.txt").read_text() == "precious"
    assert main(["build", "--model", str(tiny_model), "--dataset", str(data), "--out", str(out), "--force"]) == 0
    assert not (out / "notes.txt").exists() and (out / "manifest.json").is_file()


@pytest.mark.parametrize(
    "dataset, fragment",
    [
        ("missing.conll", "missing.conll"),
        ("bad.conll", "bad.conll"),
        ("bad.jsonl", "bad.jsonl"),
    ],
)
def test_datasets_the_loaders_refuse(capsys, tiny_model, tmp_path, dataset, fragment):
    (tmp_path / "bad.conll").write_text("John B-PER\nvisited\tO\textra NOT-A-TAG\n")
    write_jsonl(tmp_path / "bad.jsonl", [{"tokens": ["a", "b"], "ner_tags": ["O"]}])
    out = tmp_path / "out"
    status, lines = run_build(capsys, "--model", tiny_model, "--dataset", tmp_path / dataset, "--out", out)
    assert_refused(status, lines, fragment)
    assert_nothing_written(out)


def test_an_empty_dataset(capsys, tiny_model, tmp_path):
    data = tmp_path / "empty.conll"
    data.write_text("\n\n")
    out = tmp_path / "out"
    status, lines = run_build(capsys, "--model", tiny_model, "--dataset", data, "--out", out)
    assert_refused(status, lines, "empty.conll")
    assert_nothing_written(out)


@pytest.mark.parametrize(
    "option, value, fragment",
    [
        ("--max-length", "65", "exceeds the model's maximum of 64"),
        ("--max-length", "3", "--max-length 3 leaves 1"),
        ("--stride", "62", "--stride 62 must be between 0 and 61"),
        ("--stride", "-1", "--stride -1"),
        ("--batch-size", "0", "--batch-size 0"),
    ],
)
def test_window_and_batch_options_out_of_range(capsys, tiny_model, data, tmp_path, option, value, fragment):
    out = tmp_path / "out"
    status, lines = run_build(capsys, "--model", tiny_model, "--dataset", data, "--out", out, option, value)
    assert_refused(status, lines, fragment)
    assert_nothing_written(out)


def test_a_hub_model_that_cannot_be_loaded(capsys, data, tmp_path, monkeypatch):
    import huggingface_hub.constants

    # No network here: offline mode makes the hub fail at once, as it would for a wrong id.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    out = tmp_path / "out"
    status, lines = run_build(capsys, "--model", "nobody/no-such-model", "--dataset", data, "--out", out)
    assert_refused(status, lines, "cannot load the config of model nobody/no-such-model")
    assert_nothing_written(out)


def test_pickled_only_weights_are_refused_unless_allowed(tiny_model, tmp_path, capsys):
    """Unpickling can run code: a model with only pytorch_model.bin needs --allow-pickle-weights."""
    import shutil

    import torch
    from helpers import write_conll
    from safetensors.torch import load_file

    from explainer.cli import main

    model_dir = tmp_path / "pickled-model"
    shutil.copytree(tiny_model, model_dir)
    state = load_file(str(model_dir / "model.safetensors"))
    (model_dir / "model.safetensors").unlink()
    torch.save(state, model_dir / "pytorch_model.bin")  # writing, not loading: the file under test
    data = write_conll(tmp_path / "d.conll", [[("John", "B-PER"), ("visited", "O"), ("Paris", "B-LOC")]])
    out = tmp_path / "cache"
    assert main(["build", "--model", str(model_dir), "--dataset", str(data), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and "--allow-pickle-weights" in error and "\n" not in error
    assert not out.exists()
    assert (
        main(["build", "--model", str(model_dir), "--dataset", str(data), "--out", str(out), "--allow-pickle-weights"])
        == 0
    )
    assert (out / "manifest.json").is_file()
