"""explainer.build / explainer.show: the Python API over the build and the app."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from helpers import fixture_sentences, word_dataset

import explainer
from explainer.errors import ExplainerError

FAST = {"projection": "none", "label_quality": "none", "activations_sample": 0}


def test_build_from_objects_saves_them_beside_the_cache_and_returns_the_cache(tiny_model, tmp_path):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model = AutoModelForTokenClassification.from_pretrained(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    dataset = word_dataset(12)

    cache = explainer.build(model, dataset, tmp_path / "objects", tokenizer=tokenizer, batch_size=4, **FAST)

    assert isinstance(cache, explainer.Cache) and cache.path == tmp_path / "objects"
    frames = cache.frames()
    assert len(frames["examples"]) == 12
    assert frames["examples"]["words"].map(list).tolist() == dataset["tokens"]
    assert len(frames["words"]) == sum(len(tokens) for tokens in dataset["tokens"])
    assert isinstance(cache.metrics, dict) and "entity" in json.dumps(cache.metrics)
    saved_model = tmp_path / "objects.inputs" / "model"
    assert any(saved_model.glob("*.safetensors")) and (saved_model / "tokenizer.json").is_file()
    options = cache.manifest["options"]
    assert options["model"] == str(saved_model)
    assert options["dataset"] == str(tmp_path / "objects.inputs" / "dataset")
    assert options["batch_size"] == 4 and options["projection"] == "none"
    assert "--batch-size 4" in cache.command


def test_build_from_paths_matches_the_command_line(tiny_model, tmp_path):
    from helpers import write_conll

    from explainer.cli import main

    data = write_conll(tmp_path / "six.conll", fixture_sentences(6)[:6])
    cache = explainer.build(tiny_model, data, tmp_path / "api", **FAST)
    assert (
        main(
            ["build", "--model", str(tiny_model), "--dataset", str(data), "--out", str(tmp_path / "cli")]
            + [flag for name, value in FAST.items() for flag in (f"--{name.replace('_', '-')}", str(value))]
        )
        == 0
    )
    by_cli = explainer.Cache.open(tmp_path / "cli")
    assert cache.words[["word", "gold", "pred"]].equals(by_cli.words[["word", "gold", "pred"]])
    assert cache.metrics == by_cli.metrics
    assert cache.command.replace("/api", "/cli") == by_cli.command
    assert not (tmp_path / "api.inputs").exists()  # nothing to save for paths


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_sise": 8}, "unknown option batch_sise="),
        ({"batch_size": "8"}, "batch_size='8' must be int"),
        ({"batch_size": True}, "batch_size=True must be int"),
        ({"projection": "tsne"}, "projection='tsne' must be one of umap, pca, none"),
        ({"force": "yes"}, "force='yes' must be bool"),
    ],
)
def test_build_checks_options_against_the_declaration_before_anything_runs(tmp_path, options, message):
    with pytest.raises(ExplainerError, match=message):
        explainer.build(object(), object(), tmp_path / "never", **options)
    assert not (tmp_path / "never").exists() and not (tmp_path / "never.inputs").exists()


def test_build_refuses_objects_it_cannot_save(tmp_path):
    with pytest.raises(ExplainerError, match="model is a dict"):
        explainer.build({}, "data.conll", tmp_path / "out")
    with pytest.raises(ExplainerError, match="dataset is a list"):
        explainer.build("model-dir", [["words"]], tmp_path / "out")


def test_show_serves_the_app_from_a_script_until_stopped(tiny_cache):
    shown = explainer.show(explainer.Cache.open(tiny_cache), mode="server")
    try:
        assert shown.url.startswith("http://127.0.0.1:")
        layout = json.dumps(shown.layout())
        assert "section-link" in layout  # the sidebar the app renders for a cache
        with urllib.request.urlopen(shown.url, timeout=30) as page:
            assert b"NER explainer" in page.read()
    finally:
        shown.stop()
    assert not shown.running
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(shown.url, timeout=5)
    shown.stop()  # a second stop is harmless


def test_show_asks_for_jupyter_when_an_inline_mode_is_asked_from_a_script(tiny_cache, tmp_path):
    with pytest.raises(ExplainerError, match="Jupyter kernel only"):
        explainer.show(tiny_cache, mode="inline")
    with pytest.raises(ExplainerError, match="does not exist"):
        explainer.show(tmp_path / "nowhere", mode="server")


def test_build_of_several_models_returns_a_cache_each(tiny_model, tmp_path):
    from helpers import write_conll

    data = write_conll(tmp_path / "six.conll", fixture_sentences(6)[:6])
    (tmp_path / "runs").mkdir()
    second = tmp_path / "runs" / "model-epoch2"
    second.symlink_to(tiny_model, target_is_directory=True)
    caches = explainer.build([tiny_model, second], data, tmp_path / "caches", **FAST)
    assert [cache.path for cache in caches] == [
        tmp_path / "caches" / tiny_model.name,
        tmp_path / "caches" / second.name,
    ]
    assert caches[0].metrics == caches[1].metrics  # the same weights
    assert caches[1].manifest["options"]["model"] == str(second)
    with pytest.raises(ExplainerError, match="a list of models takes model directories or Hub ids"):
        explainer.build([tiny_model, object()], data, tmp_path / "objects", **FAST)
