"""Probing: the model's predictions on free text, one text per line.

For every word: its subwords, the predicted label and its probability, the runner-up label and its
probability, and whether the prediction is below a probability threshold (those are the ones to
inspect, so :meth:`ProbedText.words_for_inspection` lists them first). A word's prediction is its
first subword's, as in the cache built by ``explainer build``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explainer.analysis.spans import Span, extract_spans
from explainer.errors import ExplainerError
from explainer.inference.encoding import EncodedText, encode
from explainer.inference.model import DEFAULT_MAX_CHARS, DEFAULT_MAX_LINES

DEFAULT_THRESHOLD = 0.5
BATCH_SIZE = 8  # texts per forward pass: bounds memory for long lines


@dataclass(frozen=True)
class ProbedWord:
    """One word of a probed text and the model's prediction on it."""

    index: int
    text: str
    subwords: list[str]
    position: int  # of its first subword, in the text's subwords (special tokens included)
    label: str
    probability: float
    runner_up: str
    runner_up_probability: float
    low_probability: bool


@dataclass
class ProbedText:
    """One line of the probe: its subwords, the probabilities on each subword, and its words."""

    line: int  # 1-based line number in the submitted text
    text: str
    encoded: EncodedText
    probs: np.ndarray  # float32 [n_subwords, n_labels], softmax over the labels
    words: list[ProbedWord]

    @property
    def predicted(self) -> list[str]:
        """The predicted label of each word, in word order."""
        return [word.label for word in self.words]

    @property
    def spans(self) -> list[Span]:
        """Predicted entity spans over word positions (as seqeval chunks them)."""
        return extract_spans(self.predicted)

    @property
    def n_low_probability(self) -> int:
        return sum(word.low_probability for word in self.words)

    def words_for_inspection(self) -> list[ProbedWord]:
        """Low-probability words first (least probable first), then the others in reading order."""
        low = sorted((w for w in self.words if w.low_probability), key=lambda w: (w.probability, w.index))
        return low + [w for w in self.words if not w.low_probability]


def split_lines(
    text: str | None, *, max_lines: int = DEFAULT_MAX_LINES, max_chars: int = DEFAULT_MAX_CHARS
) -> list[tuple[int, str]]:
    """The non-empty lines of ``text`` as ``(line number, stripped line)``.

    Raises
    ------
    ExplainerError
        If there is no text, more than ``max_lines`` non-empty lines or more than ``max_chars``
        characters in them.
    """
    lines = [(number, line.strip()) for number, line in enumerate((text or "").splitlines(), start=1)]
    lines = [(number, line) for number, line in lines if line]
    if not lines:
        raise ExplainerError("no text to probe: write one text per line")
    if len(lines) > max_lines:
        raise ExplainerError(
            f"{len(lines)} lines of text: at most {max_lines} can be probed at once; "
            "remove some lines (the limit is EXPLAINER_PROBE_MAX_LINES)"
        )
    n_chars = sum(len(line) for _, line in lines)
    if n_chars > max_chars:
        raise ExplainerError(
            f"{n_chars} characters of text: at most {max_chars} can be probed at once; "
            "shorten the text (the limit is EXPLAINER_PROBE_MAX_CHARS)"
        )
    return lines


def probe(
    live,
    text: str,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    max_lines: int = DEFAULT_MAX_LINES,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> list[ProbedText]:
    """Predict every word of every non-empty line of ``text``.

    Parameters
    ----------
    live : explainer.inference.model.LiveModel
    text : str
        One text per line; empty lines are ignored.
    threshold : float, default 0.5
        A word whose predicted label has a lower probability is flagged ``low_probability``.
    max_lines, max_chars : int
        Limits on one request (see :func:`split_lines`).

    Returns
    -------
    list of ProbedText
        In line order.

    Raises
    ------
    ExplainerError
        Limits exceeded, a threshold outside [0, 1], or a line longer than the model takes.
    """
    if not 0.0 <= float(threshold) <= 1.0:
        raise ExplainerError(f"probability threshold {threshold}: expected a number between 0 and 1")
    lines = split_lines(text, max_lines=max_lines, max_chars=max_chars)
    encoded = [
        encode(live.tokenizer, text=line, max_length=live.max_length, where=f"line {number}") for number, line in lines
    ]
    probabilities = predict_probabilities(live, encoded)
    return [
        ProbedText(
            line=number,
            text=line,
            encoded=item,
            probs=probs,
            words=probed_words(item, probs, labels=live.labels, threshold=float(threshold)),
        )
        for (number, line), item, probs in zip(lines, encoded, probabilities)
    ]


def predict_probabilities(live, encoded: list[EncodedText]) -> list[np.ndarray]:
    """Softmax probabilities ``[n_subwords, n_labels]`` of each text, in padded batches under the model's lock."""
    import torch

    pad_id = live.tokenizer.pad_token_id if live.tokenizer.pad_token_id is not None else 0
    with_token_types = "token_type_ids" in getattr(live.tokenizer, "model_input_names", ())
    out: list[np.ndarray] = []
    with live.lock, torch.inference_mode():
        for start in range(0, len(encoded), BATCH_SIZE):
            batch = encoded[start : start + BATCH_SIZE]
            width = max(len(item) for item in batch)
            input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, item in enumerate(batch):
                input_ids[row, : len(item)] = torch.tensor(item.input_ids)
                mask[row, : len(item)] = 1
            inputs = {"input_ids": input_ids, "attention_mask": mask}
            if with_token_types:
                inputs["token_type_ids"] = torch.zeros_like(input_ids)
            device = next(live.model.parameters()).device
            logits = live.model(**{k: v.to(device) for k, v in inputs.items()}).logits
            probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
            out += [probs[row, : len(item)] for row, item in enumerate(batch)]
    return out


def probed_words(encoded: EncodedText, probs: np.ndarray, *, labels: list[str], threshold: float) -> list[ProbedWord]:
    """The words of one text with the prediction on each word's first subword."""
    subwords: dict[int, list[str]] = {}
    for token, word in zip(encoded.tokens, encoded.word_ids):
        if word is not None:
            subwords.setdefault(word, []).append(token)
    words = []
    for index, position in enumerate(encoded.first_subwords()):
        ranked = np.argsort(-probs[position], kind="stable")
        best, second = int(ranked[0]), int(ranked[1]) if len(ranked) > 1 else int(ranked[0])
        probability = float(probs[position, best])
        words.append(
            ProbedWord(
                index=index,
                text=encoded.words[index],
                subwords=subwords[index],
                position=position,
                label=labels[best],
                probability=probability,
                runner_up=labels[second],
                runner_up_probability=float(probs[position, second]),
                low_probability=probability < threshold,
            )
        )
    return words
