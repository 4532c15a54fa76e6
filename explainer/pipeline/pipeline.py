"""``explainer build``: load, tokenise, run the model, analyse, and write the cache atomically."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from explainer import __version__
from explainer.cache import schema
from explainer.cache.writer import CacheWriter, check_output, size_text
from explainer.data.example import LoadedDataset
from explainer.data.labels import align_labels, label_map_template, read_label_map
from explainer.errors import ExplainerError
from explainer.pipeline import tables
from explainer.pipeline.align import Alignment, align_examples, special_tokens_around
from explainer.pipeline.data_checks import check_words
from explainer.pipeline.forward import plan_batches, run_inference
from explainer.pipeline.model import LoadedModel, load_model, quiet_transformers
from explainer.pipeline.options import BuildOptions, manifest_entries, values
from explainer.pipeline.steps import StepContext, check_step_options, forward_observers, run_steps, start_warm_ups


def window_settings(options: BuildOptions, loaded: LoadedModel, *, n_special: int) -> tuple[int, int]:
    """The ``(max_length, stride)`` to use, checked against the model.

    Default ``max_length`` is the model's maximum; default ``stride`` (least overlap of consecutive
    windows, in subwords) is half of a window's room for words.
    """
    max_length = loaded.max_length if options.max_length is None else options.max_length
    if max_length > loaded.max_length:
        raise ExplainerError(
            f"--max-length {max_length} exceeds the model's maximum of {loaded.max_length} subwords; "
            "pass a smaller value or leave it out"
        )
    room = max_length - n_special
    if room < 2:
        raise ExplainerError(
            f"--max-length {max_length} leaves {room} subword(s) per window after {n_special} special "
            f"tokens; pass at least {n_special + 2}"
        )
    stride = room // 2 if options.stride is None else options.stride
    if not 0 <= stride < room:
        raise ExplainerError(
            f"--stride {stride} must be between 0 and {room - 1} (the words' room in a window of "
            f"--max-length {max_length})"
        )
    return max_length, stride


# Options the manifest's "model" and "dataset" entries hold (resolved), left out of its "settings".
_RECORDED_ELSEWHERE = ("model", "dataset", "out", "split", "revision")


@dataclass
class Prepared:
    """Everything checked and computed before the first byte is written."""

    dataset: LoadedDataset  # as loaded (its fingerprint identifies the data)
    aligned: LoadedDataset  # tags renamed to the model's labels
    label_map: dict | None
    loaded: LoadedModel
    alignment: Alignment
    settings: dict
    timings: dict


@dataclass
class SharedInputs:
    """What the builds of several models on one dataset share (``explainer build --model A --model B``).

    The dataset is loaded once (the builds differ only in their model), and each distinct tokenisation
    is kept: the checkpoints of one training run have the same tokenizer, labels and windows, so the
    dataset is tokenised once for all of them (:func:`tokenisation_key`).
    """

    data: tuple[LoadedDataset, dict | None] | None = None
    alignments: dict[str, tuple[LoadedDataset, Alignment]] = field(default_factory=dict)


def tokenisation_key(loaded: LoadedModel, *, max_length: int, stride: int) -> str:
    """sha256 of what the aligned examples depend on: the tokenizer (its whole definition, as the fast
    tokenizer serialises it), the model's labels (the gold ids) and the windows."""
    backend = getattr(loaded.tokenizer, "backend_tokenizer", None)
    definition = backend.to_str() if backend is not None else repr(loaded.tokenizer)
    payload = json.dumps([type(loaded.tokenizer).__name__, definition, list(loaded.labels), max_length, stride])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def prepare(options: BuildOptions, *, shared: SharedInputs | None = None) -> Prepared:
    """Load and check the dataset, label map and model, and tokenise: every input error surfaces here.

    With ``shared`` (builds of several models on one dataset) the dataset is loaded by the first build
    only, and a tokenisation another build already made with the same tokenizer, labels and windows is reused.

    Raises
    ------
    ExplainerError
        On any input problem.
    """
    if options.batch_size < 1:
        raise ExplainerError(f"--batch-size {options.batch_size}: must be at least 1")
    check_step_options(options)
    started = time.perf_counter()
    if shared is not None and shared.data is not None:
        dataset, label_map = shared.data
    else:
        dataset, label_map = load_data(options)
        check_words(dataset)  # a prefix on every word (WikiANN's en:) fails here, before the model loads
        if shared is not None:
            shared.data = (dataset, label_map)
    loaded = load_model(
        options.model,
        revision=options.revision,
        trust_remote_code=options.trust_remote_code,
        device=options.device,
        allow_pickle_weights=options.allow_pickle_weights,
    )
    timings = {"load": time.perf_counter() - started}
    n_special = sum(len(part) for part in special_tokens_around(loaded.tokenizer))
    max_length, stride = window_settings(options, loaded, n_special=n_special)
    key = tokenisation_key(loaded, max_length=max_length, stride=stride) if shared is not None else ""
    if shared is not None and key in shared.alignments:
        aligned, alignment = shared.alignments[key]
    else:
        aligned = align_labels(dataset, loaded.labels, label_map=label_map)
        alignment = align_examples(
            aligned.examples,
            loaded.tokenizer,
            label_ids={label: index for index, label in enumerate(loaded.labels)},
            max_length=max_length,
            stride=stride,
        )
        if shared is not None:
            shared.alignments[key] = (aligned, alignment)
    timings["tokenize"] = time.perf_counter() - started - timings["load"]
    # What the build ran with: its options as given, the resolved ones filled in.
    settings = {name: value for name, value in values(options).items() if name not in _RECORDED_ELSEWHERE}
    settings.update(
        max_length=max_length,
        stride=stride,
        device=str(loaded.device),
        requested_device=options.device,
        model_inputs=len(alignment.inputs),
    )
    return Prepared(
        dataset=dataset,
        aligned=aligned,
        label_map=label_map,
        loaded=loaded,
        alignment=alignment,
        settings=settings,
        timings=timings,
    )


def build_cache(options: BuildOptions, *, progress: bool = True, shared: SharedInputs | None = None) -> dict | None:
    """Build the cache described by ``options`` and return its manifest.

    Parameters
    ----------
    options : BuildOptions
    progress : bool, default True
        Show a tqdm progress bar on stderr during the forward passes.
    shared : SharedInputs, optional
        What builds of several models on the same dataset share (see :func:`prepare`).

    Returns
    -------
    dict or None
        The manifest written to ``<out>/manifest.json``; None on a rank other than 0 of a sharded build
        (rank 0 writes the cache).

    Raises
    ------
    ExplainerError
        On any input problem; nothing is written at ``options.out`` then.
    """
    started = time.perf_counter()
    out = check_output(options.out, force=options.force)
    from explainer.pipeline import distributed

    if distributed.world_size() > 1:  # launched by torchrun: this process builds one shard
        return distributed.build_sharded(options, progress=progress, started=started)
    with quiet_transformers():
        prepared = prepare(options, shared=shared)
        with CacheWriter(out, force=options.force) as writer:
            from explainer.pipeline.shards import clear_leftover_shards

            clear_leftover_shards(out)  # of a killed sharded build (we hold the lock now)
            writer.check_space(*estimate_bytes(options, prepared))
            start_warm_ups(options, prepared)  # e.g. UMAP's kernels compile while the forward pass runs
            mark = time.perf_counter()
            # Steps that record from the forward pass (FFN activations) do it in this one.
            observed = forward_observers(options, prepared, writer)
            with ExitStack() as hooks:
                for observer in observed.values():
                    hooks.enter_context(observer)
                # One process is the one-shard case: its outputs go straight into the cache's arrays.
                predictions = _forward(
                    prepared.loaded,
                    prepared.alignment,
                    writer,
                    batch_size=options.batch_size,
                    progress=progress,
                    observers=list(observed.values()),
                )
            prepared.timings["forward"] = time.perf_counter() - mark
            return finish_cache(
                writer, options, prepared, predictions, started=started, progress=progress, observed=observed
            )


# What a build writes besides the arrays that estimate_bytes counts exactly: Parquet and Arrow tables,
# JSON, projections, NMF. Measured at 175-185 bytes a subword on the test fixtures (60 and 3,000
# sentences of short words); counted as 400, so longer words and labels still fit, plus 1 MiB for the
# files whose size does not grow with the data. So the estimate errs on the high side by about 200 bytes
# a subword (20 MB for 100,000 subwords), small next to the hidden states (768 x 2 bytes a subword in BERT-base).
OTHER_BYTES_PER_SUBWORD = 400
FIXED_BYTES = 2**20


def estimate_bytes(options: BuildOptions, prepared: Prepared, *, ranks: int = 1) -> tuple[int, str]:
    """An upper estimate of the bytes the build will write at once, and what they are (for the message).

    The arrays (probabilities float32, hidden states float16, example embeddings float32, activations
    float16 within their budget) are counted exactly; the rest by ``OTHER_BYTES_PER_SUBWORD``. A sharded
    build (``ranks`` > 1) also holds every shard's arrays until they are merged into the cache.
    """
    from explainer.pipeline.activations import BUDGET_BYTES

    alignment, loaded = prepared.alignment, prepared.loaded
    config = loaded.model.config
    n_subwords, hidden_size = alignment.n_subwords, int(config.hidden_size)
    arrays = n_subwords * (len(loaded.labels) * 4 + hidden_size * 2)
    if ranks > 1:  # the shards' copies of those arrays, and their per-subword predictions (int16 + 3 float32)
        arrays += arrays + n_subwords * 14
    arrays += len(prepared.aligned.examples) * hidden_size * 4
    activations = 0
    if options.activations_sample > 0:
        is_word = alignment.word_index >= 0
        offsets = alignment.subword_offsets
        positions = np.add.reduceat(is_word.astype(np.int64), offsets[:-1]) if len(offsets) > 1 else np.zeros(0)
        largest = np.sort(positions)[::-1][: options.activations_sample].sum()
        per_position = int(getattr(config, "num_hidden_layers", 0)) * int(getattr(config, "intermediate_size", 0)) * 2
        activations = min(BUDGET_BYTES, int(largest) * per_position)
    other = n_subwords * OTHER_BYTES_PER_SUBWORD + FIXED_BYTES
    detail = (
        f"{size_text(arrays)} of arrays{' and shards' if ranks > 1 else ''}, "
        f"{size_text(activations)} of activations, {size_text(other)} of tables and smaller files"
    )
    return arrays + activations + other, detail


def finish_cache(
    writer: CacheWriter,
    options: BuildOptions,
    prepared: Prepared,
    predictions,
    *,
    started: float,
    progress: bool = True,
    manifest_extra: dict | None = None,
    observed: dict | None = None,
) -> dict:
    """Write tables, metrics and the dataset-level analyses, then commit the manifest; return it.

    Called once ``probs.npy`` and ``hidden.npy`` of every example are in ``writer.path`` and
    ``predictions`` covers every subword, whether one process computed them or shards were merged
    (explainer/pipeline/shards.py), so both kinds of build share everything from here on. ``observed``: the
    forward-pass observers of the steps (``steps.forward_observers``), when this process ran the forward pass.
    """
    timings = prepared.timings
    mark = time.perf_counter()
    manifest = _write_results(writer, prepared.aligned, prepared.alignment, predictions, prepared.loaded)
    manifest.update(_manifest_header(options, prepared))
    manifest["settings"] = prepared.settings
    manifest.update(manifest_extra or {})
    timings["write"] = time.perf_counter() - mark
    manifest["analyses"] = run_steps(
        StepContext(
            options=options,
            prepared=prepared,
            writer=writer,
            predictions=predictions,
            progress=progress,
            manifest=dict(manifest),
            observed=observed or {},
        ),
        timings,
    )
    timings["total"] = time.perf_counter() - started
    manifest["timings"] = {stage: round(seconds, 3) for stage, seconds in timings.items()}
    manifest.setdefault("out_of_fold", False)  # the other optional keys are null when they do not apply
    manifest = {key: manifest.get(key) for key in schema.MANIFEST_KEYS + schema.OPTIONAL_MANIFEST_KEYS}
    writer.commit(manifest)
    return manifest


def load_data(options: BuildOptions):
    """The dataset ``options`` describe, loaded and checked, and its label map (None without --label-map)."""
    from explainer.data.loaders import load_dataset  # imports datasets: only when building

    label_map = read_label_map(options.label_map) if options.label_map else None
    dataset = load_dataset(
        options.dataset,
        split=options.split,
        tokens_column=options.tokens_column,
        tags_column=options.tags_column,
        strip_prefix=options.strip_prefix,
        tag_scheme=options.tag_scheme,
    )
    if not dataset.examples:
        raise ExplainerError(f"dataset {options.dataset} has no example with words; check the file or --split")
    return dataset, label_map


def write_label_map_template(options: BuildOptions) -> Path:
    """Write the label map template of ``options.dataset`` and ``options.model`` to
    ``options.write_label_map_template`` (see :func:`explainer.data.labels.label_map_template`); return its path.

    Raises
    ------
    ExplainerError
        On a dataset or model that does not load, or a file that cannot be written.
    """
    if options.write_label_map_template is None:
        raise ValueError("options.write_label_map_template is not set")
    target = Path(options.write_label_map_template).expanduser()
    with quiet_transformers():
        dataset, _ = load_data(options)
        loaded = load_model(
            options.model,
            revision=options.revision,
            trust_remote_code=options.trust_remote_code,
            device="cpu",
            allow_pickle_weights=options.allow_pickle_weights,
        )
    template = label_map_template(dataset.tag_set() | set(dataset.label_names or ()), loaded.labels)
    try:
        target.write_text(json.dumps(template, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise ExplainerError(
            f"--write-label-map-template {target}: cannot write the file ({error.strerror}); choose a writable path"
        ) from None
    return target


def _forward(
    loaded: LoadedModel,
    alignment,
    writer: CacheWriter,
    *,
    batch_size: int,
    progress: bool,
    label: str = "forward",
    observers: Sequence[Any] = (),
):
    from tqdm import tqdm

    n_subwords, n_labels = alignment.n_subwords, len(loaded.labels)
    arrays = {}

    def allocate(hidden_size: int):
        arrays["probs"] = writer.open_array(schema.PROBS, (n_subwords, n_labels), np.float32)
        arrays["hidden"] = writer.open_array(schema.HIDDEN, (n_subwords, hidden_size), np.float16)
        return arrays["probs"], arrays["hidden"]

    tokenizer = loaded.tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batches = plan_batches(alignment.inputs, batch_size=batch_size)
    with tqdm(
        total=len(alignment.inputs), desc=label, unit="seq", file=sys.stderr, disable=not progress, leave=False
    ) as bar:
        predictions = run_inference(
            loaded.model,
            batches,
            alignment,
            n_labels=n_labels,
            pad_id=pad_id,
            with_token_types="token_type_ids" in tokenizer.model_input_names,
            device=loaded.device,
            allocate=allocate,
            progress=bar.update,
            observers=observers,
        )
    for array in arrays.values():
        if isinstance(array, np.memmap):
            array.flush()
    arrays.clear()  # close the memory maps before the directory is renamed
    return predictions


def _write_results(writer: CacheWriter, dataset, alignment, predictions, loaded: LoadedModel) -> dict:
    """Write tables and metrics; return the manifest's counts and headline."""
    labels = loaded.labels
    words = tables.word_results(alignment, predictions, labels)
    analysis = tables.analyse_spans(words, alignment.word_offsets)
    writer.write_table(
        schema.SUBWORDS,
        tables.subwords_table(alignment, predictions, _token_strings(loaded.tokenizer, alignment.input_ids)),
    )
    writer.write_table(schema.WORDS, tables.words_table(dataset.examples, alignment, predictions, words))
    writer.write_table(schema.EXAMPLES, tables.examples_table(dataset.examples, alignment, words, analysis))
    writer.write_table(schema.SPANS, analysis.spans)
    writer.write_table(schema.SPAN_ERRORS, analysis.span_errors)
    metrics = tables.dataset_metrics(labels, words, analysis)
    writer.write_json(schema.METRICS, metrics)
    span_sources = analysis.spans.column("source").to_numpy(zero_copy_only=False)
    counts = {
        "examples": len(dataset.examples),
        "words": len(words.gold),
        "subwords": alignment.n_subwords,
        "gold_spans": int((span_sources == "gold").sum()),
        "pred_spans": int((span_sources == "pred").sum()),
        "skipped_empty": dataset.skipped_empty,
        "windowed": int(alignment.windowed.sum()),
        "words_replaced_by_unk": alignment.words_replaced_by_unk,
    }
    return {"counts": counts, "headline": tables.headline(metrics, analysis, words)}


def _token_strings(tokenizer, input_ids: np.ndarray) -> np.ndarray:
    """The token string of every subword (converted once per distinct id)."""
    unique, inverse = np.unique(input_ids, return_inverse=True)
    names = np.asarray(tokenizer.convert_ids_to_tokens(unique.tolist()), dtype=object)
    return names[inverse]


def _manifest_header(options: BuildOptions, prepared: Prepared) -> dict:
    dataset = prepared.dataset
    return {
        "schema_version": schema.SCHEMA_VERSION,
        "tool_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": dict(prepared.loaded.info),
        "dataset": {
            "spec": dataset.spec,
            "format": dataset.format,
            "split": dataset.split,
            "fingerprint": dataset.fingerprint(),
            "label_map": prepared.label_map,
            "dropped_words": dataset.extra.get("dropped_words", 0),
            "tag_scheme": dataset.extra.get("tag_scheme"),
        },
        "split": dataset.split,
        "labels": list(prepared.loaded.labels),
        **manifest_entries(options),
    }


def summary_line(manifest: dict, out: str | Path) -> str:
    """One line: examples, words, entity F1, time, examples per second."""
    counts, seconds = manifest["counts"], manifest["timings"]["total"]
    rate = counts["examples"] / seconds if seconds else float("inf")
    return (
        f"built {out}: {counts['examples']} examples, {counts['words']} words, "
        f"entity F1 {manifest['headline']['entity_f1']:.4f}, {seconds:.1f} s ({rate:.1f} examples/s)"
    )
