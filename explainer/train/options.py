"""The options of ``explainer train`` (its training settings) and ``explainer crossval``, declared once.

Declared as ``explainer build``'s are (explainer/pipeline/options.py): the parsers, the manifest's
``options`` of a cross-validated cache and its rebuild command are derived from these fields.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from explainer.errors import ExplainerError
from explainer.pipeline.options import nested, option, shared


@dataclass(frozen=True)
class TrainSettings:
    """Hyper-parameters of one fine-tuning run (all of them enter the fingerprint).

    ``max_length`` None means the model's maximum (the limit ``explainer build`` uses);
    ``max_steps`` None means ``epochs`` full passes, otherwise training stops after that many
    optimiser steps (the schedule is fitted to the shorter run). ``freeze_embeddings`` keeps the
    word-embedding matrix fixed: on a CPU its dense gradient and optimiser update dominate a step
    of a small encoder (about half of MiniLM's parameters), at little cost in accuracy.
    """

    epochs: int = option(3, flag="--epochs", help="passes over the training data (default 3)")
    learning_rate: float = option(5e-5, flag="--lr", help="peak learning rate of AdamW (default 5e-5)")
    batch_size: int = option(16, flag="--batch-size", metavar="N", help="examples per step (default 16)")
    seed: int = option(0, flag="--seed", metavar="SEED", help="seed of initialisation and shuffling (default 0)")
    max_steps: int | None = option(
        None, flag="--max-steps", help="stop after this many optimiser steps (quick runs, tests)"
    )
    freeze_embeddings: bool = option(
        False,
        flag="--freeze-embeddings",
        help="keep the word-embedding matrix fixed: several times faster on a CPU",
    )
    max_length: int | None = option(
        None,
        flag="--max-length",
        help="subwords per example; longer ones are truncated for training (default: the model's)",
    )
    warmup_ratio: float = 0.1  # settings without a flag
    weight_decay: float = 0.01

    def check(self) -> None:
        """Raise ExplainerError naming the first option out of range."""
        limits = [
            ("--epochs", self.epochs, 1),
            ("--batch-size", self.batch_size, 1),
            ("--max-length", self.max_length, 8),
            ("--max-steps", self.max_steps, 1),
        ]
        for flag, value, minimum in limits:
            if value is not None and value < minimum:
                raise ExplainerError(f"{flag} must be at least {minimum}, got {value}")
        if not self.learning_rate > 0:
            raise ExplainerError(f"--lr must be positive, got {self.learning_rate}")


CACHE = "the cache"  # crossval's group of the options of the cache it builds


@dataclass
class CrossvalOptions:
    """Everything ``explainer crossval`` is told.

    The options it shares with ``explainer build`` are that declaration's fields (:func:`shared`: same
    flag, type and choices; help and default of their own); the fold models' training settings are
    ``explainer train``'s, where ``--batch-size`` and ``--seed`` are ``--train-batch-size`` and
    ``--train-seed`` (the plain ones belong to the cache) and ``--max-length`` is the cache's.
    """

    subcommand: ClassVar[str] = "crossval"

    base: str = option(
        flag="--base",
        metavar="MODEL",
        help="base encoder: a local model directory or a model id in your Hugging Face cache",
        path="file_or_name",
    )
    dataset: str = shared(
        "dataset",
        metavar="SPEC",
        help="the data to score: CoNLL/JSONL/Prodigy file, save_to_disk directory or hub name",
    )
    out: str = shared("out")
    folds: int = option(5, flag="--folds", metavar="K", help="number of folds and models (default 5)")
    fold_seed: int = option(0, flag="--fold-seed", help="seed of the hash assigning folds (default 0)")
    disjoint_entities: bool = option(
        False,
        flag="--disjoint-entities",
        help="entity-disjoint folds (as CrossWeigh): no entity surface form of a held-out fold is seen in its "
        "model's training (examples mentioning one are left out of it), so memorised label errors cannot hide",
    )
    work: str | None = option(
        None,
        flag="--work",
        metavar="DIR",
        help="fold models, shards and state.json, kept for resuming (default: <out>-folds)",
        path="file",
    )
    split: str | None = shared("split", help="split of a save_to_disk/hub dataset (default: train)")
    tokens_column: str | None = shared("tokens_column", help="field/column holding the words (JSONL, datasets)")
    tags_column: str | None = shared("tags_column", help="field/column holding the tags (JSONL, datasets)")
    strip_prefix: str | None = shared("strip_prefix")
    train: TrainSettings = nested(
        TrainSettings,
        group="training of each fold model (as explainer train)",
        prefix="train_",
        flags={"batch_size": "--train-batch-size", "seed": "--train-seed"},
        help={
            "epochs": "passes over the training folds (default 3)",
            "max_steps": "stop each fold after this many steps (quick runs, tests)",
        },
        exclude=("max_length",),
    )
    batch_size: int = shared("batch_size", group=CACHE, help="sequences per forward pass (default 32)")
    max_length: int | None = shared(
        "max_length",
        group=CACHE,
        help="subwords per sequence: training truncation and build windows (default: the model's)",
    )
    device: str = shared("device", group=CACHE, help="where to run the models (default: auto, cuda when available)")
    projection: str = shared(
        "projection",
        default="none",  # hidden states of K models share no space: off unless asked for
        group=CACHE,
        help="2-D projection of the hidden states (default none: K models' hidden states share no space)",
    )
    label_quality: str = shared(
        "label_quality", group=CACHE, help="cleanlab label-quality method, or none (default: self_confidence)"
    )
    seed: int = shared("seed", group=CACHE, help="seed of the sampled analyses (default 0)")
    force: bool = shared("force", help="start over in a --work of other inputs, and replace a non-cache --out")

    def __post_init__(self) -> None:
        # --max-length is the fold models' truncation too, unless their settings name their own.
        if self.train.max_length is None and self.max_length is not None:
            self.train = replace(self.train, max_length=self.max_length)
