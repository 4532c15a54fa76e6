"""``ExplainerCallback``: a transformers ``Trainer`` callback that leaves one cache per evaluation.

A training run with it leaves ``<out_dir>/step-000040``, ``step-000080``... caches, each of the model as it
was at that step, ready for ``explainer serve <out_dir>`` (the picker lists them in step order) or
``explainer.show(out_dir)``. Each step's weights are saved beside its cache (``step-000040.inputs/model``),
since the app's live inference loads the model again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from explainer.errors import ExplainerError

LOG = logging.getLogger(__name__)
WHEN = ("epoch", "evaluate")  # build at each epoch's end / after each evaluation Trainer runs


class ExplainerCallback(TrainerCallback):
    """Build a cache of the model being trained on ``eval_dataset`` at each evaluation.

    Parameters
    ----------
    eval_dataset : datasets.Dataset, DatasetDict, or a dataset path
        The evaluation data in words and tags (before tokenisation: a ``tokens`` and an ``ner_tags``
        column, as ``explainer build --dataset`` reads), not the tokenised copy ``Trainer`` evaluates on.
    out_dir : str or Path
        Where the caches go, one per step: ``<out_dir>/step-<global step, 6 digits>``.
    every : {"epoch", "evaluate"} or int, default "epoch"
        At each epoch's end, after each evaluation ``Trainer`` runs (``eval_strategy``), or every N
        optimisation steps. A step already built is not built again.
    tokenizer : optional
        The model's fast tokenizer; default: the one ``Trainer`` was given (``processing_class``).
    **options
        Build options by field name (``batch_size=8``, ``projection="pca"``...), as :func:`explainer.build` takes.
    """

    def __init__(
        self,
        eval_dataset: Any,
        out_dir: str | Path,
        every: str | int = "epoch",
        *,
        tokenizer: Any = None,
        **options: Any,
    ) -> None:
        if not (every in WHEN or (isinstance(every, int) and not isinstance(every, bool) and every > 0)):
            raise ExplainerError(f"ExplainerCallback: every={every!r}; use 'epoch', 'evaluate' or a number of steps")
        from explainer.pipeline.options import BuildOptions, from_keywords

        # Checked now, not after the first epoch of training (model, dataset and out are placeholders).
        from_keywords(BuildOptions, {"model": "-", "dataset": "-", "out": "-", **options}, caller="ExplainerCallback")
        self.out_dir = Path(out_dir).expanduser().absolute()
        self.every = every
        self.tokenizer = tokenizer
        self.options = options
        self._eval_dataset = eval_dataset
        self._dataset_spec: str | None = None
        self.built: dict[int, Path] = {}  # global step -> cache

    def cache_path(self, step: int) -> Path:
        return self.out_dir / f"step-{step:06d}"

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.every == "epoch":
            self._build(state, kwargs)

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.every == "evaluate":
            self._build(state, kwargs)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if isinstance(self.every, int) and state.global_step % self.every == 0:
            self._build(state, kwargs)

    def _build(self, state: Any, given: dict[str, Any]) -> None:
        step = int(state.global_step)
        if not state.is_world_process_zero or step in self.built:
            return
        from explainer.api import build, dataset_location

        if self._dataset_spec is None:  # saved once (a datasets object), shared by every step's cache
            self._dataset_spec = dataset_location(self._eval_dataset, inputs=self.out_dir / "eval-dataset.inputs")
        model = given.get("model")
        if model is None:
            raise ExplainerError("ExplainerCallback: Trainer passed no model to the callback")
        tokenizer = self.tokenizer or given.get("processing_class") or given.get("tokenizer")
        cache = build(model, self._dataset_spec, self.cache_path(step), tokenizer=tokenizer, **self.options)
        self.built[step] = cache.path
        LOG.info("explainer: built %s (entity F1 %.4f)", cache.path, cache.manifest["headline"]["entity_f1"])
