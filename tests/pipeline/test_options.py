"""Build options declared once (explainer/pipeline/options.py, explainer/train/options.py): the parsers,
the manifest's ``options``, the rebuild command and the dataset source are all derived from the fields."""

from __future__ import annotations

import argparse
import json
import shlex
import typing
from dataclasses import MISSING, fields

import pytest

from explainer.cli import make_parser
from explainer.errors import ExplainerError
from explainer.pipeline.options import (
    OPTION,
    BuildOptions,
    command_line,
    from_arguments,
    from_record,
    manifest_entries,
    manifest_options,
    parse_command_line,
    per_value,
    recorded,
    shared_values,
)
from explainer.review.merge import DatasetSource, source_of_manifest
from explainer.train.crossval import build_options
from explainer.train.options import CrossvalOptions, TrainSettings


def subcommand_parser(name: str) -> argparse.ArgumentParser:
    """The parser of ``explainer <name>`` as the command line builds it."""
    subparsers = next(action for action in make_parser()._actions if isinstance(action, argparse._SubParsersAction))
    return subparsers.choices[name]


def actions_by_dest(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {action.dest: action for action in parser._actions}


def field_default(item):
    return item.default_factory() if item.default_factory is not MISSING else item.default


def test_every_build_option_has_its_flag_default_and_choices_on_the_build_parser():
    actions = actions_by_dest(subcommand_parser("build"))
    for item in fields(BuildOptions):
        declared = item.metadata[OPTION]
        action = actions[item.name]
        assert action.option_strings == [declared.flag]
        assert action.help == declared.help
        if item.default is MISSING:
            assert action.required, item.name
        else:
            assert not action.required and action.default == item.default, item.name
        assert action.choices == declared.choices
    assert set(actions) - {"help"} == {item.name for item in fields(BuildOptions)}


def test_the_build_parser_reads_back_the_declared_defaults_and_types():
    parser = subcommand_parser("build")
    args = parser.parse_args(["--model", "m", "--dataset", "d", "--out", "o"])
    assert per_value(BuildOptions, args, "model") == [BuildOptions(model="m", dataset="d", out="o")]
    args = parser.parse_args(
        ["--model", "m", "--dataset", "d", "--out", "o", "--max-length", "12", "--seed", "3", "--trust-remote-code"]
    )
    [options] = per_value(BuildOptions, args, "model")
    assert (options.max_length, options.seed, options.trust_remote_code) == (12, 3, True)
    with pytest.raises(SystemExit):
        parser.parse_args(["--model", "m", "--dataset", "d", "--out", "o", "--device", "tpu"])
    # --model repeated: one build's options per model, the rest shared.
    args = parser.parse_args(["--model", "m1", "--dataset", "d", "--model", "m2", "--out", "o", "--seed", "3"])
    assert per_value(BuildOptions, args, "model") == [
        BuildOptions(model=model, dataset="d", out="o", seed=3) for model in ("m1", "m2")
    ]


def every_option_changed(tmp_path) -> BuildOptions:
    """Build options with every field away from its default (local files for the path options)."""
    dataset, label_map = tmp_path / "data set.conll", tmp_path / "map.json"
    dataset.write_text("Paris B-LOC\n")
    label_map.write_text("{}")
    return BuildOptions(
        model="org/model-on-the-hub",
        dataset="data set.conll",
        out="caches/tiny",
        split="dev",
        tokens_column="words",
        tags_column="labels",
        label_map="map.json",
        revision="v1",
        trust_remote_code=True,
        allow_pickle_weights=True,
        max_length=12,
        stride=3,
        batch_size=7,
        device="cpu",
        force=True,
        projection="pca",
        projection_sample=100,
        label_quality="normalized_margin",
        activations_sample=0,
        seed=5,
    )


def test_recorded_options_round_trip_through_the_rebuild_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = every_option_changed(tmp_path)
    record = recorded(options)
    assert json.loads(json.dumps(record)) == record
    assert record["subcommand"] == "build" and "force" not in record  # --force is never replayed
    assert record["dataset"] == str(tmp_path / "data set.conll")  # local paths absolute: usable from anywhere
    assert record["label_map"] == str(tmp_path / "map.json") and record["out"] == str(tmp_path / "caches/tiny")
    assert record["model"] == "org/model-on-the-hub"  # not a local path: a Hub name, as given
    command = command_line(record)
    assert parse_command_line(command) == record
    words = shlex.split(command)
    assert words[:4] == ["explainer", "build", "--model", "org/model-on-the-hub"]
    assert words[-2:] == ["--trust-remote-code", "--allow-pickle-weights"]  # switches last
    assert "--max-length 12 --stride 3 --batch-size 7" in command
    assert from_record(record) == BuildOptions(**{**vars(options), **record_paths(record), "force": False})
    assert manifest_entries(options) == {"options": record, "command": command}


def record_paths(record: dict) -> dict:
    return {name: record[name] for name in ("dataset", "out", "label_map")}


def test_the_rebuild_command_leaves_out_defaults_and_a_record_may_lack_newer_options(tmp_path):
    record = recorded(BuildOptions(model="m", dataset="d", out=str(tmp_path / "out")))
    assert command_line(record) == f"explainer build --model m --dataset d --out {tmp_path / 'out'}"
    del record["seed"], record["projection"]  # as a record written before these options existed
    assert command_line(record) == f"explainer build --model m --dataset d --out {tmp_path / 'out'}"
    assert from_record(record).seed == 0
    with pytest.raises(ExplainerError, match="unknown build option"):
        from_record({**record, "colour": "red"})


def test_crossval_shares_the_build_declaration():
    build = {item.name: item for item in fields(BuildOptions)}
    build_hints, crossval_hints = typing.get_type_hints(BuildOptions), typing.get_type_hints(CrossvalOptions)
    common = [item for item in fields(CrossvalOptions) if item.name in build]
    assert {item.name for item in common} >= {"dataset", "out", "split", "batch_size", "projection", "force"}
    for item in common:
        declared, source = item.metadata[OPTION], build[item.name].metadata[OPTION]
        assert declared.shares == item.name, f"crossval's {item.name} is not shared() from BuildOptions"
        assert (declared.flag, declared.choices, declared.path, declared.recorded) == (
            source.flag,
            source.choices,
            source.path,
            source.recorded,
        )
        assert crossval_hints[item.name] == build_hints[item.name]
    options = CrossvalOptions(base="b", dataset="d", out="o", split="train", max_length=64, device="cpu", seed=4)
    built = build_options(options, "fold-0/model")
    assert shared_values(options) == {item.name: getattr(built, item.name) for item in common}
    assert (built.model, built.activations_sample, built.projection) == ("fold-0/model", 0, "none")


def test_the_crossval_and_train_parsers_come_from_the_declarations():
    crossval = actions_by_dest(subcommand_parser("crossval"))
    assert crossval["projection"].default == "none" and crossval["projection"].choices == ("umap", "pca", "none")
    assert crossval["train_batch_size"].option_strings == ["--train-batch-size"]
    assert crossval["train_seed"].option_strings == ["--train-seed"]
    assert "train_max_length" not in crossval  # the cache's --max-length is the fold models' too
    train = actions_by_dest(subcommand_parser("train"))
    for item in fields(TrainSettings):
        if OPTION in item.metadata:
            assert train[item.name].option_strings == [item.metadata[OPTION].flag]
            assert train[item.name].default == field_default(item)
    args = subcommand_parser("train").parse_args(["--base", "b", "--dataset", "d", "--out", "o", "--lr", "0.01"])
    assert from_arguments(TrainSettings, args) == TrainSettings(learning_rate=0.01)


def test_crossval_options_round_trip_with_their_training_settings(tmp_path):
    options = CrossvalOptions(
        base="b",
        dataset="d",
        out=str(tmp_path / "oof"),
        folds=3,
        train=TrainSettings(epochs=1, learning_rate=0.005, batch_size=8, seed=2, max_steps=2, freeze_embeddings=True),
        batch_size=16,
        max_length=64,
        projection="pca",
    )
    assert options.train.max_length == 64  # the cache's --max-length truncates the fold models' examples too
    record = recorded(options)
    assert record["train"]["batch_size"] == 8 and record["batch_size"] == 16
    command = command_line(record)
    assert "--train-batch-size 8" in command and "--batch-size 16" in command and "--train-seed 2" in command
    assert command.endswith("--freeze-embeddings")
    assert parse_command_line(command) == record
    assert from_record(record) == options


LEGACY_BUILD = (
    "explainer build --model /models/bert --dataset '/data/my data.jsonl' --out /caches/one --split dev "
    "--tokens-column words --max-length 12 --stride 3 --batch-size 7 --projection pca --seed 3 --trust-remote-code"
)
LEGACY_CROSSVAL = (
    "explainer crossval --base /models/minilm --dataset /data/train.conll --folds 5 --out /caches/oof "
    "--work /caches/oof-folds --split train --tags-column ner --fold-seed 1 --epochs 2 --lr 0.001 "
    "--train-batch-size 8 --max-steps 3 --train-seed 2 --batch-size 16 --max-length 64 --freeze-embeddings"
)


def test_a_manifest_without_options_is_read_from_its_old_command():
    build = manifest_options({"command": LEGACY_BUILD})
    assert build["subcommand"] == "build" and build["dataset"] == "/data/my data.jsonl"
    assert (build["split"], build["tokens_column"], build["max_length"], build["batch_size"]) == ("dev", "words", 12, 7)
    assert build["trust_remote_code"] is True and build["projection"] == "pca"
    crossval = manifest_options({"command": LEGACY_CROSSVAL})
    assert crossval["subcommand"] == "crossval" and crossval["tags_column"] == "ner" and crossval["folds"] == 5
    assert crossval["train"]["batch_size"] == 8 and crossval["train"]["max_length"] == 64
    assert crossval["train"]["freeze_embeddings"] is True and crossval["batch_size"] == 16
    new = {"options": {"subcommand": "build", "dataset": "/elsewhere.conll"}, "command": LEGACY_BUILD}
    assert manifest_options(new) == new["options"]  # the structured object wins: the command is not read
    for unreadable in ({}, {"command": "explainer build --model"}, {"command": "make all"}, {"command": "'"}):
        assert manifest_options(unreadable) == {}


def test_the_dataset_source_comes_from_the_options_of_new_and_old_manifests():
    dataset = {"spec": "my data.jsonl", "split": None, "label_map": {"person": "PER"}}
    old = {"dataset": dataset, "command": LEGACY_BUILD}
    new = {"dataset": dataset, "options": parse_command_line(LEGACY_BUILD), "command": "not read"}
    expected = DatasetSource(
        spec="/data/my data.jsonl", split="dev", tokens_column="words", label_map={"person": "PER"}
    )
    assert source_of_manifest(old) == source_of_manifest(new) == expected
    crossval = source_of_manifest({"dataset": {"spec": "train.conll"}, "command": LEGACY_CROSSVAL})
    assert crossval == DatasetSource(spec="/data/train.conll", split="train", tags_column="ner")
    # Nothing readable: the manifest's own dataset entry (the spec as the build saw it).
    bare = source_of_manifest({"dataset": {"spec": "hub/name", "split": "test"}, "command": ""})
    assert bare == DatasetSource(spec="hub/name", split="test")


def test_a_built_cache_records_its_options_and_derives_its_command_from_them(tiny_cache, tiny_model, tiny_dataset):
    manifest = json.loads((tiny_cache / "manifest.json").read_text())
    options = manifest["options"]
    assert options["subcommand"] == "build" and options["dataset"] == str(tiny_dataset)
    assert options["model"] == str(tiny_model) and options["out"] == str(tiny_cache)
    assert manifest["command"] == command_line(options)
    assert source_of_manifest(manifest).spec == str(tiny_dataset)
