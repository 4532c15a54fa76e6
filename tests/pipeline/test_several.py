"""`explainer build --model A --model B --out DIR`: one cache per model, the dataset loaded and tokenised once,
outputs checked before the first build (explainer.pipeline.several)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from explainer.cache.reader import open_cache
from explainer.cli import main
from explainer.pipeline import pipeline
from explainer.pipeline.model import load_model
from explainer.pipeline.options import BuildOptions
from explainer.pipeline.several import cache_name, options_per_model

FAST = ["--projection", "none", "--label-quality", "none", "--findings", "none", "--activations-sample", "0"]


def model_of(cache: Path) -> Path:
    return Path(json.loads((cache / "manifest.json").read_text())["model"]["id"])


def counted(monkeypatch, module, name: str) -> list[int]:
    """Count the calls of ``module.name`` (still calling it)."""
    calls: list[int] = []
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_two_models_build_a_cache_each_from_one_load_and_one_tokenisation(
    tiny_model, tiny_cache_vs, tiny_dataset, tiny_cache, tmp_path, monkeypatch, capsys
):
    second = model_of(tiny_cache_vs)  # another tiny model (seed 1), the same tokenizer and labels
    loads = counted(monkeypatch, pipeline, "load_data")
    tokenisations = counted(monkeypatch, pipeline, "align_examples")
    root = tmp_path / "checkpoints"
    args = ["build", "--model", str(tiny_model), "--model", str(second), "--dataset", str(tiny_dataset)]
    assert main([*args, "--out", str(root), *FAST]) == 0
    assert (len(loads), len(tokenisations)) == (1, 1)
    assert sorted(path.name for path in root.iterdir()) == sorted([tiny_model.name, second.name])
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in printed if line.startswith("built ")] == [
        f"built {root / tiny_model.name}",
        f"built {root / second.name}",
    ]
    for model, alone in ((tiny_model, tiny_cache), (second, tiny_cache_vs)):
        cache, single = open_cache(root / model.name), open_cache(alone)
        # The same outputs as the model built on its own (the shared tokenisation is the model's own).
        assert cache.manifest["model"]["id"] == str(model)
        assert cache.manifest["dataset"]["fingerprint"] == single.manifest["dataset"]["fingerprint"]
        assert cache.manifest["counts"] == single.manifest["counts"]
        assert cache.words[["word", "gold", "pred", "loss"]].equals(single.words[["word", "gold", "pred", "loss"]])
        assert cache.metrics["seqeval"] == single.metrics["seqeval"]
        # Each cache records a one-model build: its own rebuild command.
        options = cache.manifest["options"]
        assert (options["model"], options["out"]) == (str(model), str(root / model.name))
        assert cache.manifest["command"].count("--model") == 1


def test_the_tokenisation_is_shared_only_by_the_same_tokenizer_labels_and_windows(tiny_model, tiny_cache_vs, tmp_path):
    from helpers import make_tiny_model

    first, second = load_model(str(tiny_model)), load_model(str(model_of(tiny_cache_vs)))
    other_labels = load_model(str(make_tiny_model(tmp_path / "labels", labels=["O", "B-X", "I-X"])))
    key = pipeline.tokenisation_key(first, max_length=64, stride=30)
    assert pipeline.tokenisation_key(second, max_length=64, stride=30) == key
    assert pipeline.tokenisation_key(first, max_length=64, stride=20) != key
    assert pipeline.tokenisation_key(other_labels, max_length=64, stride=30) != key
    first.tokenizer.backend_tokenizer.normalizer = None  # a tokenizer that splits words otherwise
    assert pipeline.tokenisation_key(first, max_length=64, stride=30) != key


def test_a_cache_is_named_after_the_model_directory_or_the_hub_id():
    assert cache_name("runs/model-epoch2/") == "model-epoch2"
    assert cache_name("dslim/bert-base-NER") == "bert-base-NER"


def link(target: Path, at: Path) -> Path:
    at.parent.mkdir(parents=True, exist_ok=True)
    at.symlink_to(target, target_is_directory=True)
    return at


@pytest.mark.parametrize("case", ["same name", "given twice", "out is a cache", "out is a file", "hidden name"])
def test_several_models_are_refused_in_one_line_before_anything_is_built(
    case, tiny_model, tiny_cache, tiny_dataset, tmp_path, capsys
):
    out = tmp_path / "caches"
    models = [str(link(tiny_model, tmp_path / "a" / "model")), str(link(tiny_model, tmp_path / "b" / "model"))]
    expected = f"--model {models[0]} and --model {models[1]} would both be written to {out / 'model'}"
    if case == "given twice":
        models, expected = [str(tiny_model)] * 2, f"--model {tiny_model} is given twice"
    elif case == "out is a cache":
        models, out = [models[0], str(tiny_model)], tiny_cache
        expected = f"--out {tiny_cache} is a cache; with several --model, --out is the directory that holds"
    elif case == "out is a file":
        models, out = [models[0], str(tiny_model)], tmp_path / "file"
        out.write_text("x")
        expected = f"--out {out} is an existing file"
    elif case == "hidden name":
        models = [models[0], str(link(tiny_model, tmp_path / ".hidden"))]
        expected = "its cache would be named '.hidden', which the app does not list"
    capsys.readouterr()
    args = [flag for model in models for flag in ("--model", model)]
    assert main(["build", *args, "--dataset", str(tiny_dataset), "--out", str(out), *FAST]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert not (tmp_path / "caches").exists()


def test_a_directory_in_the_way_of_the_second_cache_stops_the_first_build_too(
    tiny_model, tiny_cache_vs, tiny_dataset, tmp_path, capsys
):
    second = model_of(tiny_cache_vs)
    out = tmp_path / "caches"
    (out / second.name).mkdir(parents=True)
    (out / second.name / "notes.txt").write_text("mine")
    args = ["build", "--model", str(tiny_model), "--model", str(second), "--dataset", str(tiny_dataset)]
    assert main([*args, "--out", str(out), *FAST]) == 2
    assert "is a non-empty directory that is not an explainer cache" in capsys.readouterr().err
    assert sorted(path.name for path in out.iterdir()) == [second.name]  # the first model's cache was not built


def test_options_per_model_keeps_every_other_option():
    options = BuildOptions(model="-", dataset="data.conll", out="caches", batch_size=4, projection="pca")
    many = options_per_model(options, ["runs/m-epoch1", "runs/m-epoch2"])
    assert [(one.model, Path(one.out).name) for one in many] == [
        ("runs/m-epoch1", "m-epoch1"),
        ("runs/m-epoch2", "m-epoch2"),
    ]
    assert {(one.dataset, one.batch_size, one.projection) for one in many} == {("data.conll", 4, "pca")}
    assert {str(Path(one.out).parent) for one in many} == {str(Path("caches").absolute())}
