"""Build step ``training_dynamics``: the data map of a cache of the model's own training data, or why not."""

from __future__ import annotations

import numpy as np

from explainer.analysis import dynamics as dyn
from explainer.analysis import findings as fa
from explainer.cache.artefacts import Missing
from explainer.cache.reader import open_cache
from explainer.cli import main


def test_a_build_on_the_training_data_stores_the_data_map(tiny_cache_dynamics):
    cache = open_cache(tiny_cache_dynamics)
    info = cache.analyses["training_dynamics"]
    assert info["used"] and info["same_dataset"] and info["epochs"] == 2
    assert info["matched_examples"] == info["examples"] == cache.manifest["counts"]["examples"]
    found = cache.training_dynamics()
    assert not isinstance(found, Missing)
    assert len(found.words) == len(cache.words)
    # every word trained on has values; the long example's words past the 64-subword window do not
    assert found.words["confidence"].notna().mean() > 0.9 and found.words["confidence"].isna().any()
    assert ((found.examples["confidence"] >= 0) & (found.examples["confidence"] <= 1)).all()
    assert set(found.examples["region"]) <= set(dyn.REGIONS)
    assert sum(info["regions"].values()) == len(found.examples)
    assert len(found.spans) == info["spans"] > 0
    # the margin reaches the findings as a signal of its own
    findings = cache.findings()
    assert not isinstance(findings, Missing) and cache.analyses["findings"]["dynamics"] is True
    signal = findings.table[fa.DYNAMICS]
    assert signal.notna().mean() > 0.9 and signal.dropna().between(0, 1).all()  # NaN: words never trained on


def test_a_model_without_dynamics_or_other_data_leaves_it_off_and_says_why(tiny_cache, tiny_cache_dynamics, tmp_path):
    plain = open_cache(tiny_cache)
    assert plain.analyses["training_dynamics"]["used"] is False
    assert "--record-dynamics" in plain.analyses["training_dynamics"]["reason"]
    missing = plain.training_dynamics()
    assert isinstance(missing, Missing) and "explainer train --base BASE" in missing.reason
    assert "--record-dynamics &&" in missing.reason and "--model MODEL" in missing.reason
    assert np.isnan(plain.findings().table[fa.DYNAMICS]).all()

    other = tmp_path / "other.conll"
    other.write_text("Nobody\tO\nhere\tO\n\n", encoding="utf-8")
    out = tmp_path / "cache"
    model = tiny_cache_dynamics.parent.parent / "model"
    assert main(["build", "--model", str(model), "--dataset", str(other), "--out", str(out), "--findings", "none"]) == 0
    info = open_cache(out).analyses["training_dynamics"]
    assert info["used"] is False and "training data" in info["reason"] and info["matched_examples"] == 0
