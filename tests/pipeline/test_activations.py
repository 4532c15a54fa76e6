"""FFN activations: hooks per architecture, the build step, NMF and its cache, the Activations section."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers import build_activation_cache

from explainer.analysis.activations import (
    DEFAULT_COMPONENTS,
    ComponentView,
    component_view,
    energetic_neurons,
    factorise,
    format_layers,
    parse_layers,
)
from explainer.app.memo import LruMemo
from explainer.cache import schema
from explainer.cache.reader import open_cache
from explainer.errors import ExplainerError
from explainer.pipeline.activations import (
    FFN_MODULES,
    FfnRecorder,
    UnsupportedModel,
    build_step,
    check_options,
    ffn_modules,
    forward_observer,
    sample_examples,
)

TINY = dict(
    vocab_size=60,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=24,
    max_position_embeddings=40,
    num_labels=3,
)


def tiny_config(model_type: str):
    """A tiny config of each supported architecture (no hub)."""
    import transformers as tf

    if model_type == "distilbert":
        return tf.DistilBertConfig(
            vocab_size=60, dim=16, n_layers=2, n_heads=2, hidden_dim=24, max_position_embeddings=40, num_labels=3
        )
    classes = {
        "bert": tf.BertConfig,
        "roberta": tf.RobertaConfig,
        "xlm-roberta": tf.XLMRobertaConfig,
        "camembert": tf.CamembertConfig,
        "electra": tf.ElectraConfig,
        "deberta": tf.DebertaConfig,
        "deberta-v2": tf.DebertaV2Config,
    }
    extra = {"embedding_size": 16} if model_type == "electra" else {}
    return classes[model_type](**TINY, **extra)


def tiny_token_model(model_type: str, **overrides):
    import torch
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(0)
    config = tiny_config(model_type)
    for key, value in overrides.items():
        setattr(config, key, value)
    return AutoModelForTokenClassification.from_config(config).eval()


def first_linear_and_activation(layer, model_type: str):
    """The FFN's first linear layer and its activation function, found independently of FFN_MODULES."""
    if model_type == "distilbert":
        return layer.ffn.lin1, layer.ffn.activation
    return layer.intermediate.dense, layer.intermediate.intermediate_act_fn


@pytest.mark.parametrize("model_type", sorted(FFN_MODULES))
def test_hooks_capture_the_ffn_output_after_the_activation(model_type):
    import torch

    model = tiny_token_model(model_type)
    modules = ffn_modules(model)
    layers = model.base_model.get_submodule(FFN_MODULES[model_type].layers)
    assert len(modules) == len(layers) == 2
    # Reference: the first linear layer's output (hooked separately), passed through the activation by hand.
    pre_activation, handles = {}, []
    for index, layer in enumerate(layers):
        linear, _ = first_linear_and_activation(layer, model_type)
        handles.append(
            linear.register_forward_hook(
                lambda module, inputs, output, index=index: pre_activation.__setitem__(index, output.detach())
            )
        )
    input_ids = torch.randint(5, 60, (3, 7))
    kept = torch.arange(3 * 7)
    with FfnRecorder(modules) as recorder, torch.no_grad():
        recorder.reset(kept, 7)
        model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
    for handle in handles:
        handle.remove()
    for index, layer in enumerate(layers):
        _, activation = first_linear_and_activation(layer, model_type)
        expected = activation(pre_activation[index]).reshape(-1, pre_activation[index].shape[-1]).numpy()
        got = recorder.layers[index]
        assert got.dtype == np.float16 and got.shape == (21, 24)
        np.testing.assert_allclose(got.astype(np.float32), expected, atol=2e-3, rtol=2e-3)
        # After, not before, the non-linearity: GELU turns the negative pre-activations into small values.
        assert not np.allclose(got.astype(np.float32), pre_activation[index].reshape(21, 24).numpy(), atol=1e-2)


def test_recorder_keeps_only_the_kept_positions_and_joins_chunked_ffns():
    import torch

    input_ids = torch.randint(5, 60, (2, 6))
    kept = torch.tensor([1, 2, 7, 11])  # row 0 positions 1, 2; row 1 positions 1, 5
    results = []
    for chunk in (0, 2):  # chunk_size_feed_forward=2: the FFN runs in three pieces of the sequence
        model = tiny_token_model("bert", chunk_size_feed_forward=chunk)
        with FfnRecorder(ffn_modules(model)) as recorder, torch.no_grad():
            recorder.reset(kept, 6)
            model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
        results.append(recorder.layers)
    for whole, chunked in zip(*results):
        assert whole.shape == (4, 24)
        np.testing.assert_allclose(whole.astype(np.float32), chunked.astype(np.float32), atol=1e-3)


def test_unsupported_model_type_is_a_note_not_an_error(capsys):
    from transformers import GPT2Config, GPT2ForTokenClassification

    model = GPT2ForTokenClassification(GPT2Config(vocab_size=50, n_embd=16, n_layer=1, n_head=2, n_positions=32))
    with pytest.raises(UnsupportedModel, match="gpt2"):
        ffn_modules(model)
    context = SimpleNamespace(
        options=SimpleNamespace(activations_sample=10, seed=0),
        prepared=SimpleNamespace(loaded=SimpleNamespace(model=model), alignment=None),
        writer=None,
        progress=False,
        observed={},
    )
    # The forward pass records nothing for it; the step then says why.
    assert forward_observer(context.options, context.prepared, None) is None
    assert build_step(context) == {"status": "unsupported: gpt2"}
    note = capsys.readouterr().err.strip()
    assert note.startswith("note:") and "gpt2" in note and len(note.splitlines()) == 1


@pytest.mark.parametrize("value", [-1, 2.5, "10"])
def test_bad_activations_sample_is_refused(value):
    with pytest.raises(ExplainerError, match="--activations-sample"):
        check_options(SimpleNamespace(activations_sample=value))
    check_options(SimpleNamespace(activations_sample=0))


def test_sample_is_seeded_and_bounded_by_size_and_budget():
    counts = np.array([10, 20, 30, 40, 50, 5, 5, 5])
    first, limited = sample_examples(counts, size=3, seed=1, bytes_per_position=1)
    again, _ = sample_examples(counts, size=3, seed=1, bytes_per_position=1)
    assert len(first) == 3 and not limited and list(first) == list(again) == sorted(first)
    other = {tuple(sample_examples(counts, size=3, seed=seed, bytes_per_position=1)[0]) for seed in range(10)}
    assert len(other) > 1
    budgeted, limited = sample_examples(counts, size=8, seed=0, bytes_per_position=2, budget_bytes=100)
    assert limited and counts[budgeted].sum() * 2 <= 100 and len(budgeted) < 8


# --- the build ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def act_cache(tiny_model, tiny_dataset, tmp_path_factory):
    return build_activation_cache(tiny_model, tiny_dataset, tmp_path_factory.mktemp("activations") / "tiny")


def test_build_stores_the_activations_of_the_sampled_words(act_cache, tiny_model):
    import torch
    from transformers import AutoModelForTokenClassification

    cache = open_cache(act_cache)
    summary = cache.manifest["analyses"]["activations"]
    activations = np.load(act_cache / schema.ACTIVATIONS, mmap_mode="r", allow_pickle=False)
    positions = pd.read_parquet(act_cache / schema.ACTIVATION_POSITIONS)
    subwords = cache.subwords
    n_examples = cache.manifest["counts"]["examples"]
    assert summary["status"] == "ok" and summary["examples"] == min(n_examples, 200)
    assert activations.dtype == np.float16 and activations.shape == (2, len(positions), 64)
    assert summary["positions"] == len(positions) == int((subwords["word_index"] >= 0).sum())
    rows = subwords.iloc[positions["subword_row"].to_numpy()]
    assert (rows["example_id"].to_numpy() == positions["example_id"].to_numpy()).all()
    assert (rows["word_index"].to_numpy() == positions["word_index"].to_numpy()).all()
    assert (rows["position"].to_numpy() == positions["position"].to_numpy()).all()
    # A short example: its stored activations are those of a fresh forward pass over its stitched subwords.
    example = cache.examples[~cache.examples["windowed"]].iloc[0]
    ids = subwords.loc[subwords["example_id"] == example["example_id"], "input_id"].to_numpy()
    model = AutoModelForTokenClassification.from_pretrained(tiny_model).eval()
    mine = (positions["example_id"] == example["example_id"]).to_numpy()
    with FfnRecorder(ffn_modules(model)) as recorder, torch.no_grad():
        recorder.reset(torch.tensor(positions.loc[mine, "position"].to_numpy()), len(ids))
        model(
            input_ids=torch.from_numpy(ids[None].astype(np.int64)),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        )
    for layer in range(2):
        np.testing.assert_allclose(
            activations[layer][mine].astype(np.float32), recorder.layers[layer].astype(np.float32), atol=2e-3
        )
    # The long example went through its windows: every one of its word subwords has a row.
    windowed = int(cache.examples.loc[cache.examples["windowed"], "example_id"].iloc[0])
    assert (positions["example_id"] == windowed).sum() == int(
        ((subwords["example_id"] == windowed) & (subwords["word_index"] >= 0)).sum()
    )
    assert np.abs(activations[:, (positions["example_id"] == windowed).to_numpy()]).max() > 0


def test_activations_recorded_in_the_forward_pass_equal_a_second_pass(tiny_model, tiny_dataset, tmp_path):
    """The build records the sample during its one forward pass; a build whose forward pass fed no
    observer (as a sharded one) runs the sample again: same positions, same activations. A sample of 7
    leaves most batches without a sampled example."""
    from explainer.pipeline import pipeline

    act_cache = build_activation_cache(tiny_model, tiny_dataset, tmp_path / "shared", "--activations-sample", "7")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "forward_observers", lambda *args: {})
        again = build_activation_cache(tiny_model, tiny_dataset, tmp_path / "second-pass", "--activations-sample", "7")
    shared = open_cache(act_cache).manifest["analyses"]["activations"]
    second = open_cache(again).manifest["analyses"]["activations"]
    assert shared["recorded_in"] == "the shared forward pass"
    assert second["recorded_in"] == "a second pass over the sample"
    drop = ("recorded_in", "seconds")
    assert {k: v for k, v in shared.items() if k not in drop} == {k: v for k, v in second.items() if k not in drop}
    pd.testing.assert_frame_equal(
        pd.read_parquet(act_cache / schema.ACTIVATION_POSITIONS), pd.read_parquet(again / schema.ACTIVATION_POSITIONS)
    )
    one = np.load(act_cache / schema.ACTIVATIONS, allow_pickle=False).astype(np.float32)
    two = np.load(again / schema.ACTIVATIONS, allow_pickle=False).astype(np.float32)
    assert shared["examples"] == 7 and one.shape == two.shape and np.abs(one).max() > 0
    np.testing.assert_allclose(one, two, atol=2e-3)  # batches differ (other padding): float16 rounding apart


def test_build_with_activations_sample_0_writes_nothing(tiny_model, tiny_dataset, tmp_path):
    out = build_activation_cache(tiny_model, tiny_dataset, tmp_path / "off", "--activations-sample", "0")
    assert not (out / schema.ACTIVATIONS).exists() and not (out / schema.ACTIVATION_POSITIONS).exists()
    assert "activations" not in json.loads((out / schema.MANIFEST).read_text()).get("analyses", {})


def test_an_empty_sample_is_written_and_the_section_says_why(tiny_model, tiny_dataset, tmp_path, monkeypatch):
    from explainer.app.sections import activations as section
    from explainer.pipeline import activations as step

    monkeypatch.setattr(step, "BUDGET_BYTES", 10)  # smaller than any example's activations
    out = build_activation_cache(tiny_model, tiny_dataset, tmp_path / "empty")
    cache = open_cache(out)
    assert cache.manifest["analyses"]["activations"]["positions"] == 0
    assert np.load(out / schema.ACTIVATIONS, allow_pickle=False).shape == (2, 0, 64)
    assert len(pd.read_parquet(out / schema.ACTIVATION_POSITIONS)) == 0
    assert "empty" in section.layout(cache, {}).children


# --- NMF ----------------------------------------------------------------------------------------


def planted(n_positions=300, d_ff=40, n_layers=2, seed=0):
    """Activations with two planted neuron groups firing at disjoint positions, plus GELU-like negatives."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, n_positions)
    activations = rng.normal(-0.05, 0.02, (n_layers, n_positions, d_ff))
    for layer in range(n_layers):
        activations[layer, group == 0, :10] += rng.uniform(1, 2, ((group == 0).sum(), 10))
        activations[layer, group == 1, 20:30] += rng.uniform(1, 2, ((group == 1).sum(), 10))
    return activations.astype(np.float16), group


def test_nmf_shapes_non_negativity_and_planted_components():
    activations, group = planted()
    result = factorise(activations, layers=(0, 1), n_components=2, seed=0)
    assert result.weights.shape == (300, 2) and result.components.shape == (2, len(result.neurons))
    assert (result.weights >= 0).all() and (result.components >= 0).all()
    # Each planted group is found as one component: the argmax component follows the group.
    found = result.weights.argmax(axis=1)
    agreement = max((found == group).mean(), (found != group).mean())
    assert agreement > 0.95
    one_layer = factorise(activations, layers=(1,), n_components=3, seed=0, fit_positions=100)
    assert one_layer.weights.shape == (300, 3) and one_layer.fitted_on == 100
    assert one_layer.neurons.max() < 40


def test_nmf_refuses_bad_parameters():
    activations, _ = planted()
    with pytest.raises(ExplainerError, match="components"):
        factorise(activations, layers=(0,), n_components=11)
    with pytest.raises(ExplainerError, match="layers"):
        factorise(activations, layers=(2,), n_components=2)


def test_energetic_neurons_keep_the_requested_share():
    squares = np.array([9.0, 1.0, 0.0, 4.0])
    assert list(energetic_neurons(squares, energy=0.6)) == [0]
    assert list(energetic_neurons(squares, energy=0.9)) == [0, 3]
    assert list(energetic_neurons(squares, energy=1.0)) == [0, 1, 3]  # the neuron that never fires, never
    assert list(energetic_neurons(squares, energy=0.1, at_least=2)) == [0, 3]


def test_layer_specs_round_trip_and_bad_ones_mean_all():
    assert parse_layers("all", 6) == tuple(range(6)) == parse_layers("x-y", 6) == parse_layers(None, 6)
    assert (
        parse_layers("3", 6) == (3,)
        and parse_layers("4-1", 6) == (1, 2, 3, 4)
        and parse_layers("2-99", 6) == (2, 3, 4, 5)
    )
    for spec in ("all", "3", "1-4"):
        assert format_layers(parse_layers(spec, 6), 6) == spec


def test_component_view_shades_words_and_counts_top_words():
    from explainer.cache.artefacts import Factorisation

    # Two examples; subwords of word 1 of example 0 are split ("new", "##s"): the word takes the larger value.
    positions = pd.DataFrame({"example_id": [0, 0, 0, 1, 1], "word_index": [0, 1, 1, 0, 1]})
    words = pd.DataFrame(
        {"example_id": [0, 0, 1, 1], "word_index": [0, 1, 0, 1], "word": ["The", "news", "the", "cat"]}
    )
    weights = np.array([[4.0, 0.0], [1.0, 1.0], [2.0, 3.0], [3.0, 0.0], [0.0, 0.5]], dtype=np.float32)
    factorisation = Factorisation(
        layers=(0,),
        n_components=2,
        seed=0,
        weights=weights,
        components=np.ones((2, 3), np.float32),
        neurons=np.arange(3),
        fitted_on=5,
        seconds=0.0,
    )
    view = component_view(factorisation, positions, words, top_occurrences=2)
    assert isinstance(view, ComponentView)
    example = view.example(0)
    assert list(example["word"]) == ["The", "news"]
    np.testing.assert_allclose(example["c0"], [1.0, 0.5])  # 4/4, max(1, 2)/4
    np.testing.assert_allclose(example["c1"], [0.0, 1.0])
    top0 = view.top_words[view.top_words["component"] == 0]
    assert list(top0["word"]) == ["the"] and list(top0["count"]) == [2] and list(top0["occurrences"]) == [2]
    assert view.label(1) == "news · cat"


def test_factorisation_cache_is_keyed_by_its_parameters():
    calls = []
    store = LruMemo(maxsize=2)

    def compute(key):
        def run():
            calls.append(key)
            return object()

        return run

    first = store.get(("all", 5, 0), compute(("all", 5, 0)))
    assert store.get(("all", 5, 0), compute(("all", 5, 0))) is first and len(calls) == 1
    other = store.get(("all", 6, 0), compute(("all", 6, 0)))
    assert other is not first and len(calls) == 2
    store.get(("all", 5, 1), compute(("all", 5, 1)))  # a third key evicts the least recently used
    assert ("all", 5, 0) not in store and ("all", 6, 0) in store and len(store) == 2
    assert store.get(("all", 6, 0), compute(("all", 6, 0))) is other and len(calls) == 3


# --- the section --------------------------------------------------------------------------------


def test_section_caches_factorisations_per_cache_and_parameters(act_cache):
    from explainer.app.sections import activations as section

    cache = open_cache(act_cache)
    first = section.components_for(cache, layers=(0, 1), n_components=3)
    assert section.components_for(cache, layers=(0, 1), n_components=3) is first
    assert section.components_for(cache, layers=(0, 1), n_components=4) is not first
    assert section.components_for(cache, layers=(1,), n_components=3).factorisation.layers == (1,)
    reopened = open_cache(act_cache)  # another opening (e.g. after a rebuild) does not share results
    assert section.components_for(reopened, layers=(0, 1), n_components=3) is not first


def test_section_results_render_words_as_text(act_cache):
    from dash import html

    from explainer.app.sections import activations as section

    cache = open_cache(act_cache)
    hostile = int(cache.examples[cache.examples["text"].str.contains("<script>", regex=False)]["example_id"].iloc[0])
    children = section.results(cache, layers=(0, 1), n_components=3, example_id=hostile)
    table = next(child for child in children if getattr(child, "id", None) == section.Ids.EXAMPLE_ROWS)
    rows = table.children.children
    assert len(rows) == 3
    spans = [span for span in rows[0].children[1].children if isinstance(span, html.Span)]
    assert [span.children for span in spans] == list(cache.examples.loc[hostile, "words"])


def test_section_notes_a_cache_without_activations_or_an_unsupported_model(act_cache, tmp_path):
    from explainer.app.sections import activations as section

    bare = tmp_path / "bare"
    shutil.copytree(act_cache, bare)
    (bare / schema.ACTIVATIONS).unlink()
    layout = section.layout(open_cache(bare), {})
    assert "--activations-sample" in layout.children and layout.id == section.Ids.NOTE
    manifest = json.loads((bare / schema.MANIFEST).read_text())
    manifest["analyses"]["activations"] = {"status": "unsupported: gpt2"}
    (bare / schema.MANIFEST).write_text(json.dumps(manifest))
    layout = section.layout(open_cache(bare), {})
    assert "'gpt2'" in layout.children and "not recorded" in layout.children
    del manifest["analyses"]["activations"]
    manifest["out_of_fold"] = True
    (bare / schema.MANIFEST).write_text(json.dumps(manifest))
    layout = section.layout(open_cache(bare), {})
    assert "cross-validation" in layout.children and "--activations-sample" in layout.children


def test_the_build_stores_the_default_factorisation_the_tab_computed(tiny_model, tiny_dataset, tmp_path):
    from explainer.app.sections import activations as section
    from explainer.pipeline import steps

    out = tmp_path / "nmf"
    with pytest.MonkeyPatch.context() as patch:
        wanted = ("activations", "activation_nmf")
        patch.setattr(steps, "STEPS", {name: steps.STEPS[name] for name in wanted})
        from explainer.cli import main

        assert main(["build", "--model", str(tiny_model), "--dataset", str(tiny_dataset), "--out", str(out)]) == 0
    cache = open_cache(out)
    stored, sample = cache.activation_factorisation(), cache.activation_sample()
    layers = tuple(range(sample.n_layers))
    computed = factorise(sample.activations, layers=layers, n_components=DEFAULT_COMPONENTS, seed=0)
    assert (stored.layers, stored.n_components, stored.seed, stored.fitted_on) == (
        computed.layers,
        computed.n_components,
        computed.seed,
        computed.fitted_on,
    )
    for name in ("weights", "components", "neurons"):
        np.testing.assert_array_equal(getattr(stored, name), getattr(computed, name))
    view = section.components_for(cache, layers=layers, n_components=DEFAULT_COMPONENTS)
    assert view.factorisation is stored  # the tab's default view reads it
    assert section.components_for(cache, layers=(0,), n_components=DEFAULT_COMPONENTS).factorisation is not stored
    older = shutil.copytree(out, tmp_path / "older")
    (older / schema.ACTIVATION_NMF).unlink()
    fallback = section.components_for(open_cache(older), layers=layers, n_components=DEFAULT_COMPONENTS)
    np.testing.assert_array_equal(fallback.factorisation.weights, stored.weights)
    pd.testing.assert_frame_equal(fallback.words, view.words)
