"""Layer Integrated Gradients for every target at once: completeness, equality to captum, options."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from captum.attr import LayerIntegratedGradients

from explainer.cli import main
from explainer.errors import ExplainerError
from explainer.inference.attributions import PRESETS, baseline_ids, explain

SENTENCE = "We visited Paris last weekend, where Emmanuel Macron lives."


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # fixtures in conftest.py


@pytest.fixture(scope="module")
def full(live):
    """All-token attributions of SENTENCE with the full preset (computed once)."""
    return explain(live, text=SENTENCE, n_steps=50)


def probabilities(live, input_ids):
    with torch.no_grad():
        return torch.softmax(live.model(input_ids=torch.tensor([input_ids])).logits[0], dim=-1).numpy()


def test_completeness_holds_against_independent_forward_passes(live, full):
    on_text = probabilities(live, full.encoded.input_ids)
    on_baseline = probabilities(live, baseline_ids(full.encoded, live.tokenizer))
    assert len(full.targets) == len(full.tokens)  # every subword, special tokens included
    for row, target in enumerate(full.targets):
        cls = live.labels.index(target.label)
        difference = on_text[target.position, cls] - on_baseline[target.position, cls]
        assert full.score_input[row] == pytest.approx(on_text[target.position, cls], abs=1e-6)
        assert full.raw[row].sum() == pytest.approx(difference, abs=1e-5)
        assert abs(full.delta[row]) < 1e-5
    assert np.abs(full.raw).sum() > 1e-3  # not trivially zero


def captum_reference(live, encoded, *, position, target, n_steps, method="gausslegendre"):
    """One captum LayerIntegratedGradients call, set up as transformers-interpret does."""
    ids = torch.tensor([encoded.input_ids])
    reference = torch.tensor([baseline_ids(encoded, live.tokenizer)])

    def forward(input_ids, attention_mask):
        logits = live.model(input_ids=input_ids, attention_mask=attention_mask).logits
        return torch.softmax(logits, dim=2)[:, position, :]

    lig = LayerIntegratedGradients(forward, live.model.get_input_embeddings())
    attributions, delta = lig.attribute(
        ids,
        reference,
        target=target,
        additional_forward_args=(torch.ones_like(ids),),
        n_steps=n_steps,
        method=method,
        return_convergence_delta=True,
    )
    summed = attributions.sum(dim=-1)[0].double().numpy()
    return summed, summed / np.linalg.norm(summed), float(delta)


def test_equal_to_captum_layer_integrated_gradients_per_target(live, full):
    for row, target in enumerate(full.targets):
        raw, normalised, delta = captum_reference(
            live, full.encoded, position=target.position, target=live.labels.index(target.label), n_steps=50
        )
        assert np.corrcoef(raw, full.raw[row])[0, 1] >= 0.99
        np.testing.assert_allclose(full.raw[row], raw, atol=1e-6 * max(1.0, np.abs(raw).max()) + 1e-9)
        np.testing.assert_allclose(full.normalised[row], normalised, atol=1e-4)
        assert full.delta[row] == pytest.approx(delta, abs=1e-6)


def test_fast_preset_is_gauss_legendre_and_close_to_the_full_result(live, full):
    preset = PRESETS["fast"]
    fast = explain(live, text=SENTENCE, n_steps=preset.n_steps, method=preset.method)
    assert preset.method == "gausslegendre" and preset.n_steps < PRESETS["full"].n_steps
    assert np.abs(fast.delta).max() < 1e-3
    for row in range(len(full.targets)):
        assert np.corrcoef(fast.raw[row], full.raw[row])[0, 1] >= 0.99


def test_batched_looped_and_chunked_passes_agree(live):
    default = explain(live, text=SENTENCE, n_steps=6)
    for options in ({"target_batch": 1}, {"target_batch": 4}, {"target_batch": 100}, {"internal_batch_size": 4}):
        np.testing.assert_allclose(explain(live, text=SENTENCE, n_steps=6, **options).raw, default.raw, atol=1e-7)


def test_riemann_methods_are_captums(live):
    result = explain(live, text="John lives in Paris", n_steps=7, method="riemann_trapezoid", positions=[1])
    raw, _, _ = captum_reference(
        live,
        result.encoded,
        position=1,
        target=live.labels.index(result.targets[0].label),
        n_steps=7,
        method="riemann_trapezoid",
    )
    np.testing.assert_allclose(result.raw[0], raw, atol=1e-6)


def test_contrast_is_the_difference_of_the_two_classes(live):
    kwargs = {"text": "John Smith lives in Paris", "n_steps": 8, "positions": [1, 4]}
    loc = explain(live, target_label="B-LOC", **kwargs)
    org = explain(live, target_label="B-ORG", **kwargs)
    why = explain(live, target_label="B-LOC", contrast_label="B-ORG", **kwargs)
    np.testing.assert_allclose(why.raw, loc.raw - org.raw, atol=1e-7)
    assert all(t.label == "B-LOC" and t.contrast == "B-ORG" for t in why.targets)
    np.testing.assert_allclose(why.raw.sum(axis=1), why.score_input - why.score_baseline, atol=1e-5)


def test_ignored_indexes_and_labels_are_honoured(live, full):
    result = explain(live, text=SENTENCE, n_steps=4, ignored_indexes=[0, len(full.tokens) - 1, 3])
    last = len(full.tokens) - 1
    assert [t.position for t in result.targets] == [p for p in range(len(full.tokens)) if p not in (0, 3, last)]
    common = max(set(t.predicted for t in full.targets), key=[t.predicted for t in full.targets].count)
    without = explain(live, text=SENTENCE, n_steps=4, ignored_labels=[common])
    assert [t.position for t in without.targets] == [t.position for t in full.targets if t.predicted != common]
    # Rows are the same numbers as in the all-target run: targets do not influence each other.
    for row, target in enumerate(without.targets):
        np.testing.assert_allclose(
            without.raw[row], explain(live, text=SENTENCE, n_steps=4).raw[target.position], atol=1e-7
        )
    nothing = explain(live, text=SENTENCE, n_steps=4, ignored_labels=live.labels)
    assert nothing.targets == [] and nothing.raw.shape == (0, len(full.tokens))


def test_repeated_tokens_are_kept_apart(live):
    result = explain(live, text="Paris Paris Paris", n_steps=4)
    assert result.tokens == ["[CLS]", "paris", "paris", "paris", "[SEP]"]
    by_position = result.by_position()
    assert sorted(by_position) == [0, 1, 2, 3, 4]
    assert not np.allclose(by_position[1], by_position[2]) and not np.allclose(by_position[2], by_position[3])
    assert [t["position"] for t in result.to_dict()["targets"]] == [0, 1, 2, 3, 4]


def test_word_level_merges_subwords(live):
    result = explain(live, text="Johns visited Paris", n_steps=4)
    assert result.tokens == ["[CLS]", "john", "##s", "visited", "paris", "[SEP]"]
    columns, merged = result.word_level()
    assert columns == ["[CLS]", "Johns", "visited", "Paris", "[SEP]"]
    normalised = result.normalised
    np.testing.assert_allclose(merged[:, 1], normalised[:, 1] + normalised[:, 2])
    np.testing.assert_allclose(merged[:, [0, 2, 3, 4]], normalised[:, [0, 3, 4, 5]])


def test_dataset_words_are_explained_as_given(live):
    result = explain(live, words=["John", "visited", "<b>x</b>"], n_steps=4, ignored_indexes=[0])
    assert result.encoded.words == ["John", "visited", "<b>x</b>"]
    assert result.targets[0].position == 1


@pytest.mark.parametrize(
    "options, message",
    [
        ({"ignored_labels": ["B-FOO"]}, "ignored label B-FOO is not one of the model's labels"),
        ({"target_label": "PERSON"}, "class PERSON is not one of the model's labels"),
        ({"ignored_indexes": [99]}, "ignored index 99: the text has"),
        ({"ignored_indexes": ["x"]}, "expected a subword position"),
        ({"n_steps": 0}, "n_steps 0"),
        ({"method": "simpson"}, "method 'simpson'"),
        ({"target_batch": 0}, "target_batch 0"),
    ],
)
def test_bad_options_are_one_line_errors(live, options, message):
    with pytest.raises(ExplainerError, match=message):
        explain(live, text="John", **options)


def test_cli_prints_attributions(tiny_model, capsys):
    assert (
        main(
            [
                "explain",
                "--model",
                str(tiny_model),
                "--text",
                "John lives in Paris",
                "--ignored-indexes",
                "0,5",
                "--n-steps",
                "4",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["tokens"] == ["[CLS]", "john", "lives", "in", "paris", "[SEP]"]
    assert [t["position"] for t in data["targets"]] == [1, 2, 3, 4]
    assert all(abs(t["delta"]) < 1e-4 and len(t["attributions"]) == 6 for t in data["targets"])
    assert (
        main(
            [
                "explain",
                "--model",
                str(tiny_model),
                "--text",
                "John lives in Paris",
                "--n-steps",
                "4",
                "--ignored-labels",
                "O",
                "--words",
            ]
        )
        == 0
    )
    assert "targets, 4 gausslegendre points" in capsys.readouterr().out
    assert main(["explain", "--model", str(tiny_model), "--text", "John", "--ignored-indexes", "a"]) == 2
    assert capsys.readouterr().err.startswith("error: --ignored-indexes: 'a' is not a subword position")


def test_panel_explains_an_examples_words_with_the_caches_model(tiny_model, monkeypatch):
    from types import SimpleNamespace

    from explainer.app.components.attributions import explain_panel, render_result, run_explanation

    monkeypatch.delenv("EXPLAINER_MODEL", raising=False)
    context = SimpleNamespace(cache=lambda search: SimpleNamespace(manifest={"model": {"id": str(tiny_model)}}))
    words = ["John", "wrote", "<script>alert(1)</script>", "in", "Paris"]
    panel = explain_panel("inspector", words=words)
    source = panel.children[0].data
    assert source == {"words": words}
    data = run_explanation(
        context,
        "?sample=3",
        source,
        preset="fast",
        ignored_labels=None,
        target_label=None,
        contrast_label=None,
        positions=[1],
    )
    assert [t["position"] for t in data["targets"]] == [1] and data["n_steps"] == PRESETS["fast"].n_steps
    assert data["word_columns"][0] == "[CLS]" and "<script>alert(1)</script>" in data["word_columns"]
    for level in ("subwords", "words"):
        children = render_result(data, level=level)
        assert "completeness error" in str(children[0].children[2].children)
    too_long = run_explanation(
        context,
        "",
        {"words": ["paris"] * 80},
        preset="full",
        ignored_labels=None,
        target_label=None,
        contrast_label=None,
    )
    assert "more than the 64 the model takes" in too_long["error"]
    assert render_result(too_long)[0].color == "danger"


def test_panel_callbacks_are_registered_once_per_app():
    import dash

    from explainer.app.components.attributions import register_callbacks

    first, second = dash.Dash(__name__), dash.Dash(__name__)
    register_callbacks(first, context=None)
    registered = set(first.callback_map)
    register_callbacks(first, context=None)  # the factory and the Probing section both ask
    assert set(first.callback_map) == registered and len(registered) == 3
    register_callbacks(second, context=None)
    assert set(second.callback_map) == registered


def test_entities_only_keeps_first_subwords_predicted_as_entities_or_mislabelled(live):
    words = ["Johnson", "visited", "Parisians", "yesterday", "with", "Macron"]
    gold = ["B-PER", "O", "B-LOC", "O", "O", "B-PER"]
    everything = explain(live, words=words, n_steps=2)
    predicted = {t.position: t.predicted for t in everything.targets}
    firsts = everything.encoded.first_subwords()
    expected = [p for word, p in enumerate(firsts) if predicted[p] != "O" or gold[word] != predicted[p]]
    chosen = explain(live, words=words, n_steps=2, entities_only=True, gold=gold)
    assert [t.position for t in chosen.targets] == expected
    assert len(expected) < len(everything.targets) - 2  # no special token, no later subword of a word
    without_gold = explain(live, words=words, n_steps=2, entities_only=True)
    assert [t.position for t in without_gold.targets] == [p for p in firsts if predicted[p] != "O"]


def test_why_not_explains_one_word_against_its_gold_label(live):
    words = ["John", "visited", "Parisians"]
    result = explain(live, words=words, n_steps=2, word_indexes=[2], contrast_label="B-LOC", entities_only=True)
    (target,) = result.targets
    assert target.position == result.encoded.first_subwords()[2] and target.contrast == "B-LOC"
    assert target.label == target.predicted
    with pytest.raises(ExplainerError, match="word 3"):
        explain(live, words=words, n_steps=2, word_indexes=[3])
