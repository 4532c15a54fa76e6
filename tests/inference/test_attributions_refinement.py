"""The fast preset refines only the targets whose completeness error misses the tolerance, and says
when one still misses it at the cap.

A random tiny BERT is smooth along the path (8 points are exact); multiplying its classifier by a
large factor makes the softmax saturate as a fine-tuned model's does, so 8 points miss.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading

import numpy as np
import pytest

from explainer.cli import main
from explainer.errors import ExplainerError
from explainer.inference.attributions import COMPLETENESS_FLOOR, PRESETS, explain

SENTENCE = "We visited Paris last weekend, where Emmanuel Macron lives."

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # fixtures in conftest.py


def sharpened(live, factor: float):
    """A copy of ``live`` whose logits are ``factor`` times larger (a saturating softmax)."""
    model = copy.deepcopy(live.model)
    model.classifier.weight.data *= factor
    model.classifier.bias.data *= factor
    return dataclasses.replace(live, model=model, lock=threading.Lock())


@pytest.fixture(scope="module")
def sharp(live):
    return sharpened(live, 500.0)


def relative_error(result):
    return np.abs(result.delta) / np.maximum(np.abs(result.score_input), COMPLETENESS_FLOOR)


def test_refinement_brings_every_target_under_the_tolerance_and_touches_only_those_that_missed(sharp):
    fast = PRESETS["fast"]
    plain = explain(sharp, text=SENTENCE, n_steps=fast.n_steps)
    missing = relative_error(plain) > fast.tolerance
    assert missing.any() and not missing.all()  # the premise: 8 points miss on some targets only

    refined = explain(sharp, text=SENTENCE, n_steps=fast.n_steps, tolerance=fast.tolerance, max_steps=fast.max_steps)
    assert (relative_error(refined) <= fast.tolerance).all() and not refined.missed.any()
    assert (refined.steps[missing] > fast.n_steps).all()
    assert (refined.steps[~missing] == fast.n_steps).all()
    # Untouched targets keep the 8-point numbers; a refined one is the plain result at its point count.
    np.testing.assert_allclose(refined.raw[~missing], plain.raw[~missing], atol=1e-7)
    row = int(np.flatnonzero(missing)[0])
    again = explain(sharp, text=SENTENCE, n_steps=int(refined.steps[row]), positions=[refined.targets[row].position])
    np.testing.assert_allclose(refined.raw[row], again.raw[0], atol=1e-6)

    data = refined.to_dict()
    assert data["tolerance"] == fast.tolerance and data["missed"] == 0 and data["refined"] == missing.sum()
    assert [t["n_steps"] for t in data["targets"]] == refined.steps.tolist()
    assert all(t["within_tolerance"] is True for t in data["targets"])


def test_a_target_still_missing_at_the_cap_is_flagged(sharp, live):
    capped = explain(sharp, text=SENTENCE, n_steps=4, tolerance=0.001, max_steps=8)
    assert capped.missed.any() and set(capped.steps[capped.missed]) == {8}
    data = capped.to_dict()
    flagged = [t for t in data["targets"] if t["within_tolerance"] is False]
    assert data["missed"] == len(flagged) == capped.missed.sum()
    assert all(abs(t["delta"]) > 0.001 * abs(t["score_input"]) for t in flagged)
    # Without a tolerance nothing is asked and nothing is flagged.
    assert all(t["within_tolerance"] is None for t in explain(live, text="John", n_steps=4).to_dict()["targets"])


def test_the_panel_warns_about_targets_above_the_tolerance(sharp):
    from explainer.app.components.attributions import render_result

    data = explain(sharp, text=SENTENCE, n_steps=4, tolerance=0.001, max_steps=8).to_dict()
    children = render_result(data)
    warning = children[1]
    assert "attr-missed" in warning.className
    assert f"{data['missed']} target" in warning.children and "at 8 points" in warning.children
    assert "refined (up to 8)" in children[0].children[1].children
    lines = children[-1].children
    flagged = [line for line in lines if "above tolerance" in line.children[0].children]
    assert len(flagged) == data["missed"]


def test_cli_json_reports_refinement(tiny_model, capsys):
    args = ["explain", "--model", str(tiny_model), "--text", "John lives in Paris", "--n-steps", "4", "--json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tolerance"] == 0.05 and data["missed"] == 0  # the CLI checks by default
    assert all(t["within_tolerance"] is True for t in data["targets"])
    assert main([*args, "--tolerance", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["tolerance"] is None


@pytest.mark.parametrize(
    "options, message",
    [
        ({"tolerance": 0}, "tolerance 0: expected a positive number"),
        ({"tolerance": "5%"}, "tolerance '5%'"),
        ({"tolerance": 0.05, "n_steps": 8, "max_steps": 4}, r"max_steps 4: expected a whole number >= n_steps \(8\)"),
    ],
)
def test_bad_refinement_options_are_one_line_errors(live, options, message):
    with pytest.raises(ExplainerError, match=message):
        explain(live, text="John", **options)
