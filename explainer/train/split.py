"""A deterministic train/evaluation split that depends only on each example's words and a seed.

Each example is assigned by a seeded hash of its words, not by its position, so the split is the
same across runs, machines and orderings of the file, and repeated sentences (common in tweets and
newswire) always land on the same side instead of leaking from training into evaluation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

from explainer.data.example import Example, LoadedDataset
from explainer.errors import ExplainerError

_HASH_SPACE = 2**64


def is_held_out(example: Example, *, eval_fraction: float, seed: int) -> bool:
    """Whether ``example`` belongs to the evaluation part.

    Parameters
    ----------
    example : Example
        The example to place; only its words are hashed.
    eval_fraction : float
        Expected share of examples held out, in (0, 1).
    seed : int
        Changes the split while keeping it deterministic.

    Returns
    -------
    bool
        True when the example's seeded hash falls in the lowest ``eval_fraction`` of the hash space.
    """
    payload = json.dumps([seed, list(example.words)], ensure_ascii=False).encode("utf-8")
    bucket = int.from_bytes(hashlib.sha256(payload).digest()[:8], "big")
    return bucket < eval_fraction * _HASH_SPACE


def split_dataset(
    dataset: LoadedDataset, *, eval_fraction: float = 0.2, seed: int = 0
) -> tuple[LoadedDataset, LoadedDataset]:
    """Split a loaded dataset into a training part and a held-out evaluation part.

    Parameters
    ----------
    dataset : LoadedDataset
        What a loader returned.
    eval_fraction : float, default 0.2
        Expected share of examples held out; the realised share varies by a few examples.
    seed : int, default 0
        Seed of the hash; another seed gives another split.

    Returns
    -------
    (LoadedDataset, LoadedDataset)
        The training and evaluation parts, each keeping the examples' original order and sources,
        with ``extra["split"]`` recording how it was made.

    Raises
    ------
    ExplainerError
        If ``eval_fraction`` is not strictly between 0 and 1, or either part would be empty.
    """
    if not 0 < eval_fraction < 1:
        raise ExplainerError(f"--eval-fraction must be between 0 and 1 (exclusive), got {eval_fraction}")
    held_out = [is_held_out(example, eval_fraction=eval_fraction, seed=seed) for example in dataset.examples]
    train_examples = [ex for ex, out in zip(dataset.examples, held_out) if not out]
    eval_examples = [ex for ex, out in zip(dataset.examples, held_out) if out]
    if not train_examples or not eval_examples:
        raise ExplainerError(
            f"{dataset.spec}: splitting {len(dataset.examples)} examples with --eval-fraction {eval_fraction} "
            "left one part empty; use a larger dataset or give --eval-dataset"
        )
    return (
        _part(dataset, train_examples, "train", eval_fraction, seed),
        _part(dataset, eval_examples, "eval", eval_fraction, seed),
    )


def _part(dataset: LoadedDataset, examples: list[Example], name: str, eval_fraction: float, seed: int) -> LoadedDataset:
    extra = {
        **dataset.extra,
        "split": {"part": name, "eval_fraction": eval_fraction, "seed": seed, "of_fingerprint": dataset.fingerprint()},
    }
    return replace(dataset, examples=examples, skipped_empty=0, extra=extra)
