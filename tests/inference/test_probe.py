"""Probing free text: predictions equal a direct forward pass, limits, flags, lazy model loading."""

from __future__ import annotations

import subprocess
import sys
import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from explainer.errors import ExplainerError
from explainer.inference import model as live_module
from explainer.inference.model import LiveModel, LiveSettings, live_model, model_id_for
from explainer.inference.probe import probe, split_lines

TWO_LINES = "We visited Paris last weekend, where Emmanuel Macron lives.\n\n   \nJohn Smith told reporters in Berlin!"


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # fixtures in conftest.py


def direct_probabilities(live, text):
    encoding = live.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        logits = live.model(**encoding).logits[0]
    return torch.softmax(logits, dim=-1).numpy(), encoding.word_ids()


def test_probe_matches_a_direct_forward_pass(live):
    texts = probe(live, TWO_LINES)
    assert [text.line for text in texts] == [1, 4]  # empty and blank lines ignored, numbers kept
    for text in texts:
        probs, word_ids = direct_probabilities(live, text.text)
        np.testing.assert_allclose(text.probs, probs, atol=1e-5)  # batched with padding, same numbers
        first = {}
        for position, word in enumerate(word_ids):
            if word is not None:
                first.setdefault(word, position)
        assert [w.position for w in text.words] == [first[w] for w in sorted(first)]
        for word in text.words:
            ranked = np.argsort(-probs[word.position])
            assert word.label == live.labels[ranked[0]]
            assert word.runner_up == live.labels[ranked[1]]
            assert word.probability == pytest.approx(probs[word.position, ranked[0]], abs=1e-5)
            assert word.runner_up_probability == pytest.approx(probs[word.position, ranked[1]], abs=1e-5)
            assert word.probability >= word.runner_up_probability


def test_words_are_the_texts_characters_and_subwords_the_models(live):
    (text,) = probe(live, "Johns visited Paris, <b>x</b>")
    assert [w.text for w in text.words] == ["Johns", "visited", "Paris", ",", "<", "b", ">", "x", "<", "/", "b", ">"]
    assert text.words[0].subwords == ["john", "##s"]
    assert text.encoded.tokens[0] == "[CLS]" and text.encoded.tokens[-1] == "[SEP]"


def test_low_probability_words_are_flagged_and_listed_first(live):
    (everything,) = probe(live, "John Smith visited Paris last weekend", threshold=1.0)
    assert all(w.low_probability for w in everything.words)
    ordered = everything.words_for_inspection()
    assert [w.probability for w in ordered] == sorted(w.probability for w in everything.words)
    (nothing,) = probe(live, "John Smith visited Paris last weekend", threshold=0.0)
    assert nothing.n_low_probability == 0 and nothing.words_for_inspection() == nothing.words
    # A threshold between two probabilities splits the words there, low ones first.
    probabilities = sorted(w.probability for w in everything.words)
    middle = (probabilities[1] + probabilities[2]) / 2
    (split,) = probe(live, "John Smith visited Paris last weekend", threshold=middle)
    flags = [w.low_probability for w in split.words_for_inspection()]
    assert flags == [True, True] + [False] * (len(probabilities) - 2)


def test_spans_follow_the_predicted_labels(live):
    for text in probe(live, TWO_LINES):
        for start, end, kind in text.spans:
            assert text.words[start].label.endswith(kind) and end <= len(text.words)


@pytest.mark.parametrize(
    "text, message",
    [
        ("\n".join(f"line {i}" for i in range(21)), "21 lines of text: at most 20"),
        ("a" * 2001, "2001 characters of text: at most 2000"),
        ("\n  \n", "no text to probe"),
        ("", "no text to probe"),
    ],
)
def test_limits_are_enforced_with_a_clear_message(text, message):
    with pytest.raises(ExplainerError, match=message):
        split_lines(text, max_lines=20, max_chars=2000)


def test_limits_count_only_non_empty_lines():
    lines = split_lines("\n".join(["x"] * 20 + [""] * 30), max_lines=20, max_chars=20)
    assert len(lines) == 20


def test_probe_errors_are_one_line_and_name_the_line(live):
    with pytest.raises(ExplainerError, match="line 2 has .* subwords, more than the 64"):
        probe(live, "John\n" + "paris " * 80)
    with pytest.raises(ExplainerError, match="between 0 and 1"):
        probe(live, "John", threshold=1.5)
    with pytest.raises(ExplainerError, match="at most 1 can be probed"):
        probe(live, "John\nMary", max_lines=1)


def test_settings_from_the_environment():
    settings = LiveSettings.from_env(
        {
            "EXPLAINER_MODEL": " /models/ner ",
            "EXPLAINER_PROBE_MAX_LINES": "5",
            "EXPLAINER_PROBE_MAX_CHARS": "300",
            "EXPLAINER_TORCH_THREADS": "1",
        }
    )
    values = (settings.model, settings.max_lines, settings.max_chars, settings.torch_threads)
    assert values == ("/models/ner", 5, 300, 1)
    assert LiveSettings.from_env({}).max_lines == 20 and LiveSettings.from_env({}).max_chars == 2000
    with pytest.raises(ExplainerError, match="EXPLAINER_PROBE_MAX_LINES='many'"):
        LiveSettings.from_env({"EXPLAINER_PROBE_MAX_LINES": "many"})


def test_model_comes_from_the_manifest_unless_the_setting_names_one():
    manifest = {"model": {"id": "/build/model", "revision": None}}
    assert model_id_for(manifest, settings=LiveSettings()) == ("/build/model", None)
    assert model_id_for(manifest, settings=LiveSettings(model="/serve/model")) == ("/serve/model", None)
    with pytest.raises(ExplainerError, match="EXPLAINER_MODEL"):
        model_id_for({"model": {}}, settings=LiveSettings())


def test_model_is_loaded_once_per_process_even_from_many_threads(tiny_model, monkeypatch):
    monkeypatch.setattr(live_module, "_MODELS", {})
    loads = []
    original = LiveModel.load

    def counting_load(name, **kwargs):
        loads.append(name)
        return original(name, **kwargs)

    monkeypatch.setattr(LiveModel, "load", staticmethod(counting_load))
    results = []
    threads = [threading.Thread(target=lambda: results.append(live_model(str(tiny_model)))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and len({id(model) for model in results}) == 1
    assert not any(p.requires_grad for p in results[0].model.parameters())


def test_missing_model_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(live_module, "_MODELS", {})
    with pytest.raises(ExplainerError, match="does not exist"):
        live_model(str(tmp_path / "nowhere"))


@pytest.mark.slow
def test_analysis_pages_and_the_probing_section_do_not_import_torch():
    code = (
        "import sys, explainer.app.factory, explainer.app.sections.probing, explainer.app.components.attributions,"
        " explainer.inference, explainer.inference.probe, explainer.inference.attributions, explainer.figures.attributions;"
        " from explainer.app.sections import load_sections; load_sections();"
        " assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_probe_callback_renders_escaped_cards(tiny_model, monkeypatch):
    from explainer.app.sections.probing import probe_view

    monkeypatch.delenv("EXPLAINER_MODEL", raising=False)
    context = SimpleNamespace(cache=lambda search: SimpleNamespace(manifest={"model": {"id": str(tiny_model)}}))
    children = probe_view(context, "?tab=probing", "John visited <script>alert(1)</script>\nParis", 0.5)
    cards = [child for child in children if getattr(child, "id", "").startswith("probing-line-")]
    assert [card.id for card in cards] == ["probing-line-1", "probing-line-2"]
    strings = [node.children for node in _walk(children) if isinstance(node.children, str)]
    assert "<" in strings and "script" in strings  # the markup is text in the page, not an element
    assert not any(type(node).__name__ == "Script" for node in _walk(children))
    error = probe_view(context, "", "\n".join(["x"] * 21), 0.5)
    assert "at most 20" in error[0].children


def _walk(node):
    if isinstance(node, (list, tuple)):
        for item in node:
            yield from _walk(item)
    elif hasattr(node, "children"):
        yield node
        yield from _walk(node.children)
