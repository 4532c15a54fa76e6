"""Feed-forward (FFN) neuron activations of a seeded sample of examples, for the Activations tab.

Forward hooks on each layer's feed-forward block keep the intermediate output *after* the
non-linearity (GELU for most encoders), as the Ecco library does before its NMF, for the sampled
examples only. They are recorded during the build's shared forward pass (:class:`ActivationRecording`
is a forward-pass observer, see ``steps.forward_observers``); a sharded build, whose forward passes
ran in other processes, runs the sampled examples a second time instead. The step writes::

    activations.npy               float16 [n_layers, n_positions, d_ff]; layer-major so one layer is one
                                  contiguous block (memory-mapped by the app)
    activation_positions.parquet  one row per position (row i <-> activations[:, i]): example_id (int64),
                                  word_index (int32), position (int32, in the example's stitched sequence),
                                  subword_row (int64, row of subwords.parquet)

Positions are the subwords of the sampled examples that belong to a word (special tokens are left out:
their activations are outliers that would take whole components). Long examples are read through the
build's own windows (``Alignment.inputs``), each subword from the window where it is most central.

Size: ``n_layers * d_ff * 2`` bytes per position. Examples are taken in a seeded random order until
``--activations-sample`` of them are in or the next one would pass ``BUDGET_BYTES`` (128 MiB); BERT-base
(12 x 3072) fits about 1,800 positions, all-MiniLM-L6-v2 (6 x 1536) about 7,300.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from explainer.cache.schema import ACTIVATION_POSITIONS, ACTIVATIONS
from explainer.errors import ExplainerError

if TYPE_CHECKING:
    import torch
    from torch.utils.hooks import RemovableHandle

BUDGET_BYTES = 128 * 2**20


@dataclass(frozen=True)
class FfnModules:
    """Where a model type keeps its layers and, inside each layer, the module whose output is act(W1 x + b1)."""

    layers: str  # path of the ModuleList of layers, from ``model.base_model``
    ffn: str  # path inside one layer


_ENCODER_INTERMEDIATE = FfnModules("encoder.layer", "intermediate")  # BertIntermediate: act(dense(x))
# model_type -> modules (checked against transformers 5 in tests/pipeline/test_activations.py).
FFN_MODULES: dict[str, FfnModules] = {
    "bert": _ENCODER_INTERMEDIATE,
    "roberta": _ENCODER_INTERMEDIATE,
    "xlm-roberta": _ENCODER_INTERMEDIATE,
    "camembert": _ENCODER_INTERMEDIATE,
    "electra": _ENCODER_INTERMEDIATE,
    "deberta": _ENCODER_INTERMEDIATE,
    "deberta-v2": _ENCODER_INTERMEDIATE,
    # DistilBERT's FFN is lin1 -> activation -> lin2 in one module: hook the activation itself.
    "distilbert": FfnModules("transformer.layer", "ffn.activation"),
}


def check_options(options) -> None:
    """Refuse a negative or non-integer ``--activations-sample`` before anything is loaded."""
    sample = options.activations_sample
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 0:
        raise ExplainerError(f"--activations-sample {sample}: must be 0 (no activations) or a number of examples")


class UnsupportedModel(ExplainerError):
    """The model's FFN modules are not known (its type is not in ``FFN_MODULES``, or they are elsewhere)."""

    def __init__(self, model_type, reason: str):
        super().__init__(f"model type {model_type!r}: {reason}")
        self.model_type = model_type


def ffn_modules(model) -> list:
    """The module of each layer whose forward output is the FFN activation after the non-linearity.

    Raises
    ------
    UnsupportedModel
        If the model type is not in ``FFN_MODULES`` or its modules are not where the table says.
    """
    model_type = getattr(model.config, "model_type", None)
    spec = FFN_MODULES.get(model_type) if isinstance(model_type, str) else None
    if spec is None:
        raise UnsupportedModel(model_type, f"not supported (supported: {', '.join(sorted(FFN_MODULES))})")
    try:
        layers = model.base_model.get_submodule(spec.layers)
        modules = [layer.get_submodule(spec.ffn) for layer in layers]
    except (AttributeError, TypeError):
        raise UnsupportedModel(model_type, f"no module {spec.layers}.N.{spec.ffn}") from None
    if len({id(module) for module in modules}) != len(modules):  # one shared module would fire for every layer
        raise UnsupportedModel(model_type, f"its layers share one {spec.ffn} module")
    return modules


class FfnRecorder:
    """Forward hooks that keep, per layer, the FFN activations of the kept positions of the current batch.

    Set ``kept`` (flat indices into ``[batch * width]``, or None to keep nothing) and ``width`` before each
    forward pass; after it,
    ``layers[i]`` is a float16 array ``[len(kept), d_ff]``. The hook gathers the kept rows at once, so the
    full ``[batch, width, d_ff]`` tensors of all layers are never held together. A model that runs its FFN
    in sequence chunks (``chunk_size_feed_forward``) calls the hook once per chunk; chunks are joined first.
    """

    def __init__(self, modules: Iterable[torch.nn.Module]) -> None:
        self.modules = list(modules)
        self.kept: torch.Tensor | None = None
        self.width = 0
        self.layers: list[np.ndarray | None] = [None] * len(self.modules)
        self._chunks: list[list[torch.Tensor]] = [[] for _ in self.modules]
        self._handles: list[RemovableHandle] = []

    def __enter__(self) -> FfnRecorder:
        for index, module in enumerate(self.modules):
            self._handles.append(module.register_forward_hook(self._hook(index)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def reset(self, kept: torch.Tensor | None, width: int) -> None:
        self.kept, self.width = kept, width
        self.layers = [None] * len(self.modules)
        self._chunks = [[] for _ in self.modules]

    def _hook(self, index: int):
        import torch

        def hook(_module, _inputs, output):
            if self.kept is None:  # nothing of this batch is kept
                return None
            chunks = self._chunks[index]
            chunks.append(output)
            if sum(chunk.shape[1] for chunk in chunks) < self.width:
                return None
            whole = chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=1)
            chunks.clear()
            flat = whole.reshape(-1, whole.shape[-1])
            self.layers[index] = flat[self.kept.to(flat.device)].to(torch.float16).cpu().numpy()
            return None

        return hook


def sample_examples(
    n_subwords_per_example: np.ndarray,
    *,
    size: int,
    seed: int,
    bytes_per_position: int,
    budget_bytes: int = BUDGET_BYTES,
) -> tuple[np.ndarray, bool]:
    """Seeded sample of example ids, at most ``size`` of them and within the byte budget.

    Examples are visited in a seeded random order and taken while the budget allows (an example too
    large for what is left is passed over, so a long one does not end the sample early).

    Returns
    -------
    ids : ndarray of int64, sorted
    limited : bool
        True when the budget, not ``size``, stopped the sample.
    """
    counts = np.asarray(n_subwords_per_example, dtype=np.int64)
    room = budget_bytes // max(bytes_per_position, 1)
    chosen: list[int] = []
    used, limited = 0, False
    for example_id in np.random.default_rng(seed).permutation(len(counts)):
        if len(chosen) == size:
            break
        if used + counts[example_id] > room:
            limited = True
            continue
        chosen.append(int(example_id))
        used += int(counts[example_id])
    return np.sort(np.asarray(chosen, dtype=np.int64)), limited and len(chosen) < size


@dataclass(frozen=True)
class SamplePlan:
    """Which subwords the sample keeps and where each goes in ``activations.npy``."""

    example_ids: np.ndarray  # sampled examples, sorted
    limited: bool  # the byte budget, not the requested size, stopped the sample
    in_sample: np.ndarray  # bool per example
    rows: np.ndarray  # global subword rows kept (word subwords of the sampled examples), in cache order
    row_of_subword: np.ndarray  # per subword: its row in the sample, or -1
    subword_example: np.ndarray  # per subword: its example id


def plan_sample(alignment, *, size: int, seed: int, bytes_per_position: int, budget_bytes: int) -> SamplePlan:
    """The seeded sample of ``size`` examples (see :func:`sample_examples`) and its word subwords."""
    is_word = alignment.word_index >= 0
    offsets = alignment.subword_offsets
    words_per_example = (
        np.add.reduceat(is_word.astype(np.int64), offsets[:-1]) if len(offsets) > 1 else np.zeros(0, np.int64)
    )
    example_ids, limited = sample_examples(
        words_per_example, size=size, seed=seed, bytes_per_position=bytes_per_position, budget_bytes=budget_bytes
    )
    in_sample = np.zeros(len(offsets) - 1, dtype=bool)
    in_sample[example_ids] = True
    subword_example = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    rows = np.flatnonzero(is_word & in_sample[subword_example])
    row_of_subword = np.full(alignment.n_subwords, -1, dtype=np.int64)
    row_of_subword[rows] = np.arange(len(rows))
    return SamplePlan(example_ids, bool(limited), in_sample, rows, row_of_subword, subword_example)


class ActivationRecording:
    """Records the sample's FFN activations from whatever forward passes run its inputs.

    A forward-pass observer (see ``steps.forward_observers``): the build's shared forward pass calls
    :meth:`before_batch` and :meth:`after_batch` around each batch, so the activations are recorded in
    the pass that computes the predictions, not in a second pass over the sampled examples (which cost
    as much again as 40% of the forward pass on the demo). Batches without a sampled example cost nothing
    beyond the hooks' call. Writes ``activations.npy`` as it goes; :meth:`finish` adds the positions
    table and returns the summary.
    """

    def __init__(self, loaded, alignment, modules, *, writer, size: int, seed: int, budget_bytes: int) -> None:
        config = loaded.model.config
        self.model_type = config.model_type
        self.d_ff = int(getattr(config, "intermediate_size", 0) or getattr(config, "hidden_dim", 0))
        self.n_layers = len(modules)
        self.alignment, self.writer, self.size, self.seed = alignment, writer, size, seed
        self.budget_bytes = budget_bytes
        self.plan = plan_sample(
            alignment, size=size, seed=seed, bytes_per_position=self.n_layers * self.d_ff * 2, budget_bytes=budget_bytes
        )
        shape = (self.n_layers, len(self.plan.rows), self.d_ff)
        # An empty memory map cannot be opened: a sample with no position is written as an empty array.
        self.out = (
            writer.open_array(ACTIVATIONS, shape, np.float16) if len(self.plan.rows) else np.zeros(shape, np.float16)
        )
        self.recorder = FfnRecorder(modules)
        self._target: np.ndarray | None = None
        self.seconds = 0.0  # spent here and in the hooks' copies, beyond the model's own work

    def __enter__(self) -> ActivationRecording:
        self.recorder.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.recorder.__exit__(*exc)

    def wanted(self, item) -> bool:
        """Whether a model input belongs to a sampled example."""
        return bool(self.plan.in_sample[item.example_id])

    def before_batch(self, batch, width: int) -> None:
        """Point the hooks at this batch's sampled word subwords (or at nothing)."""
        import time

        import torch

        started = time.perf_counter()
        source_parts: list[np.ndarray] = []
        target_parts: list[np.ndarray] = []
        for row, item in enumerate(batch):
            if not self.plan.in_sample[item.example_id]:
                continue
            keep = self.plan.row_of_subword[item.target] >= 0
            source_parts.append(row * width + item.source[keep])
            target_parts.append(self.plan.row_of_subword[item.target[keep]])
        if source_parts:
            self.recorder.reset(torch.from_numpy(np.concatenate(source_parts)), width)
            self._target = np.concatenate(target_parts)
        else:
            self.recorder.reset(None, width)
            self._target = None
        self.seconds += time.perf_counter() - started

    def after_batch(self) -> None:
        """Store what the hooks kept of the batch just run."""
        import time

        if self._target is None:
            return
        started = time.perf_counter()
        for layer, values in enumerate(self.recorder.layers):
            if values is None or values.shape[1] != self.d_ff:
                raise ExplainerError(
                    f"activations: the hook on layer {layer} of model type {self.model_type} "
                    f"did not capture [positions, {self.d_ff}] activations; FFN_MODULES is wrong "
                    "for this model (rebuild with --activations-sample 0 to skip them)"
                )
            self.out[layer, self._target] = values
        self._target = None
        self.seconds += time.perf_counter() - started

    def finish(self, *, shared_pass: bool) -> dict:
        """Close ``activations.npy``, write ``activation_positions.parquet``; return the manifest's summary."""
        import pyarrow as pa

        plan, alignment = self.plan, self.alignment
        out = self.out
        if isinstance(out, np.memmap):
            out.flush()
        else:
            np.save(self.writer.path / ACTIVATIONS, out, allow_pickle=False)
        del out
        self.out = None  # close the memory map before the directory is renamed
        rows, offsets = plan.rows, alignment.subword_offsets
        positions = pa.table(
            {
                "example_id": pa.array(plan.subword_example[rows], pa.int64()),
                "word_index": pa.array(alignment.word_index[rows], pa.int32()),
                "position": pa.array(rows - offsets[plan.subword_example[rows]], pa.int32()),
                "subword_row": pa.array(rows, pa.int64()),
            }
        )
        self.writer.write_table(ACTIVATION_POSITIONS, positions)
        spec = FFN_MODULES[self.model_type]
        return {
            "status": "ok",
            "model_type": self.model_type,
            "module": f"{spec.layers}.N.{spec.ffn}",
            "layers": self.n_layers,
            "neurons": self.d_ff,
            "examples": len(plan.example_ids),
            "requested": self.size,
            "positions": len(rows),
            "limited_by_budget": plan.limited,
            "budget_bytes": self.budget_bytes,
            "megabytes": round(self.n_layers * len(rows) * self.d_ff * 2 / 2**20, 1),
            "seed": self.seed,
            "recorded_in": "the shared forward pass" if shared_pass else "a second pass over the sample",
            "seconds": round(self.seconds, 3),
        }


def forward_observer(options, prepared, writer) -> ActivationRecording | None:
    """The recording the build's shared forward pass feeds (None: no sample, or a model we cannot hook,
    which :func:`build_step` then notes)."""
    if options.activations_sample == 0:
        return None
    try:
        modules = ffn_modules(prepared.loaded.model)
    except UnsupportedModel:
        return None
    return ActivationRecording(
        prepared.loaded,
        prepared.alignment,
        modules,
        writer=writer,
        size=options.activations_sample,
        seed=options.seed,
        budget_bytes=BUDGET_BYTES,
    )


def build_step(context) -> dict | None:
    """Finish the activations recorded in the forward pass, or record them in a second pass (a sharded
    build's forward passes ran in other processes); the summary goes to the manifest."""
    options = context.options
    if options.activations_sample == 0:
        return None
    recording = context.observed.get("activations")
    if recording is not None:
        return recording.finish(shared_pass=True)
    loaded, alignment = context.prepared.loaded, context.prepared.alignment
    try:
        modules = ffn_modules(loaded.model)
    except UnsupportedModel as error:
        # Not an error: the rest of the cache is complete, only the Activations tab has nothing to show.
        print(f"note: FFN activations not recorded: {error}", file=sys.stderr)
        return {"status": f"unsupported: {error.model_type}"}
    return record_activations(
        loaded,
        alignment,
        modules,
        writer=context.writer,
        size=options.activations_sample,
        seed=options.seed,
        batch_size=options.batch_size,
        progress=context.progress,
        budget_bytes=BUDGET_BYTES,
    )


def record_activations(
    loaded,
    alignment,
    modules,
    *,
    writer,
    size: int,
    seed: int,
    batch_size: int = 32,
    progress: bool = True,
    budget_bytes: int = BUDGET_BYTES,
) -> dict:
    """Run the sampled examples' model inputs with hooks and write the two files; return the summary.

    The second pass, for builds whose forward pass could not record (sharded builds). Batches are the
    build's (``--batch-size``, sorted by length): small batches made this pass 2.5 times slower on CPU.
    """
    import time

    import torch
    from tqdm import tqdm

    from explainer.pipeline.forward import pad_batch, plan_batches

    started = time.perf_counter()
    recording = ActivationRecording(
        loaded, alignment, modules, writer=writer, size=size, seed=seed, budget_bytes=budget_bytes
    )
    inputs = [item for item in alignment.inputs if recording.wanted(item)]
    tokenizer = loaded.tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with_token_types = "token_type_ids" in tokenizer.model_input_names
    with (
        recording,
        torch.inference_mode(),
        tqdm(
            total=len(inputs), desc="activations", unit="seq", file=sys.stderr, disable=not progress, leave=False
        ) as bar,
    ):
        for batch in plan_batches(inputs, batch_size=batch_size):
            tensors = pad_batch(batch, pad_id=pad_id, with_token_types=with_token_types, device=loaded.device)
            recording.before_batch(batch, int(tensors["input_ids"].shape[1]))
            loaded.model(**tensors)
            recording.after_batch()
            bar.update(len(batch))
    summary = recording.finish(shared_pass=False)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary
