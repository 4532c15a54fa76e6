"""Batched forward passes and stitching of their outputs into per-subword arrays.

Model inputs are sorted by length before batching, so a batch holds sequences of similar length and
little padding. Each batch's kept rows (see ``ModelInput.source``) are written straight into the
output arrays (memory-mapped ``.npy`` files), so the arrays are never held twice in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from explainer.cache.schema import IGN
from explainer.pipeline.align import Alignment, ModelInput


@dataclass
class SubwordPredictions:
    """Per-subword outputs derived from the probabilities (NaN on IGN for the gold columns)."""

    pred_id: np.ndarray  # int16
    prob_pred: np.ndarray  # float32
    prob_gold: np.ndarray  # float32
    loss: np.ndarray  # float32, cross-entropy against gold


def plan_batches(inputs: list[ModelInput], *, batch_size: int) -> list[list[ModelInput]]:
    """Group model inputs into batches of similar length, longest first (memory errors show early)."""
    lengths = np.fromiter((len(item.input_ids) for item in inputs), dtype=np.int64, count=len(inputs))
    order = np.argsort(-lengths, kind="stable")
    return [[inputs[i] for i in order[start : start + batch_size]] for start in range(0, len(order), batch_size)]


def pad_batch(batch: list[ModelInput], *, pad_id: int, with_token_types: bool, device) -> dict:
    """The padded tensors of one batch (right padding, attention mask)."""
    import torch

    width = max(len(item.input_ids) for item in batch)
    input_ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, item in enumerate(batch):
        input_ids[row, : len(item.input_ids)] = item.input_ids
        mask[row, : len(item.input_ids)] = 1
    tensors = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
    if with_token_types:
        tensors["token_type_ids"] = torch.zeros_like(tensors["input_ids"])
    return {name: tensor.to(device) for name, tensor in tensors.items()}


def forward(model, tensors: dict):
    """Logits ``[batch, length, labels]`` and last hidden state ``[batch, length, hidden]``."""
    outputs = model(**tensors, output_hidden_states=True)
    return outputs.logits, outputs.hidden_states[-1]


def run_inference(
    model,
    batches: list[list[ModelInput]],
    alignment: Alignment,
    *,
    n_labels: int,
    pad_id: int,
    with_token_types: bool,
    device,
    allocate: Callable[[int], tuple[np.ndarray, np.ndarray]],
    progress: Callable[[int], None] | None = None,
    observers: Sequence[Any] = (),
) -> SubwordPredictions:
    """Run every batch and stitch the kept rows into the output arrays.

    Parameters
    ----------
    model : transformers token-classification model, in eval mode on ``device``
    batches : list of list of ModelInput
        From :func:`plan_batches`.
    alignment : Alignment
        Gives the number of subwords and their gold label ids.
    n_labels, pad_id : int
    with_token_types : bool
        Pass ``token_type_ids`` (zeros) when the tokenizer expects them.
    device : torch.device
    allocate : callable
        ``allocate(hidden_size) -> (probs, hidden)``: the writable ``[n_subwords, n_labels]`` float32
        and ``[n_subwords, hidden_size]`` float16 arrays, called once the hidden size is known.
    progress : callable, optional
        Called with the number of model inputs done after each batch.
    observers : sequence, optional
        Each one's ``before_batch(batch, width)`` and ``after_batch()`` run around every batch (build
        steps that record from this pass, e.g. FFN activations; see ``steps.forward_observers``).

    Returns
    -------
    SubwordPredictions
    """
    import torch

    n_subwords = alignment.n_subwords
    predictions = SubwordPredictions(
        pred_id=np.zeros(n_subwords, dtype=np.int16),
        prob_pred=np.zeros(n_subwords, dtype=np.float32),
        prob_gold=np.full(n_subwords, np.nan, dtype=np.float32),
        loss=np.full(n_subwords, np.nan, dtype=np.float32),
    )
    outputs: tuple[np.ndarray, np.ndarray] | None = None  # (probs, hidden), allocated at the first batch
    with torch.inference_mode():
        for batch in batches:
            tensors = pad_batch(batch, pad_id=pad_id, with_token_types=with_token_types, device=device)
            for observer in observers:
                observer.before_batch(batch, int(tensors["input_ids"].shape[1]))
            logits, hidden = forward(model, tensors)
            for observer in observers:
                observer.after_batch()
            if outputs is None:
                outputs = allocate(int(hidden.shape[-1]))
            probs_out, hidden_out = outputs
            width = logits.shape[1]
            source = np.concatenate([row * width + item.source for row, item in enumerate(batch)])
            target = np.concatenate([item.target for item in batch])
            kept = torch.from_numpy(source).to(logits.device)
            log_probs = logits.reshape(-1, n_labels)[kept].float().log_softmax(-1)
            hidden_out[target] = hidden.reshape(-1, hidden.shape[-1])[kept].to(torch.float16).cpu().numpy()
            _store(predictions, probs_out, target, log_probs.cpu().numpy(), alignment.label_id[target])
            if progress is not None:
                progress(len(batch))
    return predictions


def _store(
    predictions: SubwordPredictions, probs_out: np.ndarray, target: np.ndarray, log_probs: np.ndarray, gold: np.ndarray
) -> None:
    """Write probabilities and derived per-subword values for the rows ``target``."""
    probs_out[target] = np.exp(log_probs)
    best = log_probs.argmax(axis=1)
    predictions.pred_id[target] = best
    predictions.prob_pred[target] = np.exp(log_probs[np.arange(len(best)), best])
    labelled = gold != IGN
    gold_log_prob = log_probs[np.flatnonzero(labelled), gold[labelled]]
    predictions.loss[target[labelled]] = -gold_log_prob
    predictions.prob_gold[target[labelled]] = np.exp(gold_log_prob)
