"""Build step data_checks: a WikiANN-style prefix stops the build with the fix, --strip-prefix builds, and the
findings reach the cache, the manifest and the summary printed at the end of the build."""

from __future__ import annotations

import pytest
from helpers import fixture_sentences, write_conll

from explainer.cache.artefacts import Missing
from explainer.cache.reader import open_cache
from explainer.cache.schema import DATA_CHECKS
from explainer.cli import main
from explainer.data.example import Example, LoadedDataset
from explainer.data.loaders import load_dataset
from explainer.errors import ExplainerError
from explainer.pipeline import data_checks as step
from explainer.pipeline.options import BuildOptions


@pytest.fixture
def wikiann_style(tmp_path):
    """The fixture sentences with every word prefixed by its language, as WikiANN's files have them."""
    sentences = [[(f"en:{word}", tag) for word, tag in sentence] for sentence in fixture_sentences(8)]
    return write_conll(tmp_path / "wikiann.conll", sentences)


def test_a_prefixed_dataset_is_refused_before_the_model_loads(capsys, wikiann_style, tmp_path):
    out = tmp_path / "cache"
    status = main(
        ["build", "--model", str(tmp_path / "no-such-model"), "--dataset", str(wikiann_style), "--out", str(out)]
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: ") and "'en:'" in lines[0] and "--strip-prefix en:" in lines[0]
    assert not out.exists()


def test_strip_prefix_builds_and_stores_the_findings(capsys, tiny_model, wikiann_style, tmp_path):
    out = tmp_path / "cache"
    status = main(
        [
            "build",
            "--model",
            str(tiny_model),
            "--dataset",
            str(wikiann_style),
            "--out",
            str(out),
            "--strip-prefix",
            "en:",
        ]
    )
    printed = capsys.readouterr().out.strip().splitlines()
    assert status == 0
    assert printed[-1].startswith("data checks: ") and "normaliser_case" in printed[-1]  # the tiny model lowercases
    cache = open_cache(out)
    assert cache.manifest["options"]["strip_prefix"] == "en:"
    findings = cache.data_checks()
    assert not isinstance(findings, Missing)
    counts = dict(zip(findings["check"], findings["count"]))
    assert counts == cache.analyses["data_checks"]["counts"]
    assert counts["shared_affix"] == 0 and counts["normaliser_case"] > 0 and counts["unknown_token"] == 0
    case = findings.set_index("check").loc["normaliser_case"]
    words = cache.table("words", ["example_id", "word_index", "word"]).set_index(["example_id", "word_index"])
    flagged = [words.loc[(example, index), "word"] for example, index in zip(case["example_ids"], case["word_indexes"])]
    assert flagged and all(word != word.lower() for word in flagged)
    assert not any(word.startswith("en:") for word in words["word"])


def test_a_cache_without_the_step_says_how_to_add_it(tiny_cache, tmp_path):
    import shutil

    copy = shutil.copytree(tiny_cache, tmp_path / "old")
    (copy / DATA_CHECKS).unlink()
    missing = open_cache(copy).data_checks()
    assert isinstance(missing, Missing) and "explainer build" in missing.reason


def test_the_tokenizer_view_of_each_word(tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    view = step.tokenizer_view(tokenizer, ["Paris", "paris", "☃", "\u200b", "Zürich"])
    assert view.unknown >= {"☃"} and "paris" not in view.unknown
    assert view.empty == {"\u200b"}
    assert view.normalised["Paris"] == "paris" and view.normalised["Zürich"] == "zurich"
    assert view.n_subwords["paris"] == 1


def test_find_all_runs_every_check_once(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    sentences = [[("Paris", "I-LOC"), ("won", "O")], [("Paris", "I-LOC"), ("won", "O")]]
    dataset = load_dataset(str(write_conll(tmp_path / "d.conll", sentences)), tag_scheme="iob2")  # I- after O: errors
    findings = step.find_all(
        dataset,
        dataset,
        model_labels=["O", "B-LOC", "I-LOC", "B-PER", "I-PER"],
        tokenizer=AutoTokenizer.from_pretrained(tiny_model),
        windowed=[False, True],
        max_length=64,
    )
    counts = {finding.check: finding.count for finding in findings}
    assert len(counts) == len(findings)
    assert counts["i_after_o"] == 2 and counts["duplicate_example"] == 1 and counts["windowed_example"] == 1
    assert counts["model_type_absent"] == 1 and counts["normaliser_case"] == 2
    table = step.findings_table(findings)
    assert table.schema == step.FINDINGS_SCHEMA and table.num_rows == len(findings)


def test_check_words_and_the_option():
    prefixed = LoadedDataset([Example(("B-John", "B-Paris"), ("O", "O"))], spec="swapped.conll", format="conll")
    with pytest.raises(ExplainerError, match=r"^swapped.conll: 2 of 2 \(100%\) words start with 'B-'"):
        step.check_words(prefixed)
    step.check_words(LoadedDataset([Example(("John", "B-2"), ("O", "O"))], spec="fine.conll", format="conll"))
    with pytest.raises(ExplainerError, match="--strip-prefix needs"):
        step.check_options(BuildOptions(model="m", dataset="d", out="o", strip_prefix=""))
    step.check_options(BuildOptions(model="m", dataset="d", out="o", strip_prefix="en:"))


def test_summary_line():
    assert step.summary_line({"analyses": {}}) is None
    assert (
        step.summary_line({"analyses": {"data_checks": {"counts": {"long_split": 0}}}}) == "data checks: nothing found"
    )
    line = step.summary_line({"analyses": {"data_checks": {"counts": {"long_split": 1200, "unknown_token": 0}}}})
    assert line is not None and line.startswith("data checks: long_split 1,200 (") and "unknown_token" not in line
