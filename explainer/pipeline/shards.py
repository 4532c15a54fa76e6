"""Build a cache in parts and merge them: the mechanism behind sharded builds and out-of-fold caches.

A *shard* is the model outputs for a subset of a dataset's examples, written to its own directory by
:func:`write_shard`. Sharded builds (``torchrun ... -m explainer build``, explainer/pipeline/distributed.py)
give each rank a block of examples; ``explainer crossval`` (explainer/train/crossval.py) builds each
fold's held-out examples with the model that did not see them. :func:`merge_shards` then copies every
shard's rows into the full arrays of the cache being written, in example order, and returns the
per-subword predictions of the whole dataset; ``pipeline.finish_cache`` computes the tables, metrics
and dataset-level analyses from there exactly as a single-process build does.

Every example is tokenised and windowed on its own, so the subwords of a subset are the rows of the
whole dataset's alignment restricted to those examples: a shard stores only its rows, and merging is
a scatter by example offsets. Files of a shard directory::

    example_ids.npy         int64 [n]: ids (rows of examples.parquet) of the shard's examples, ascending
    probs.npy, hidden.npy   the shard's subword rows, in the order of its examples (absent if n == 0)
    pred_id.npy, prob_pred.npy, prob_gold.npy, loss.npy    per-subword predictions (inference.py)
    shard.json              written last (a shard without it is incomplete): counts, labels, model,
                            sha256 of the shard's input ids (checked against the merged dataset)
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from explainer.cache import schema
from explainer.cache.writer import open_allocated_array
from explainer.errors import ExplainerError
from explainer.pipeline.align import Alignment, ModelInput
from explainer.pipeline.forward import SubwordPredictions

SHARD_INFO = "shard.json"
EXAMPLE_IDS = "example_ids.npy"
PREDICTION_FIELDS = ("pred_id", "prob_pred", "prob_gold", "loss")
COPY_ROWS = 65_536  # rows copied at a time when merging, so a shard's hidden states are never all in memory


def shard_root(out: Path, token: str) -> Path:
    """The directory beside cache ``out`` where the ranks of a sharded build write their shards."""
    return out.parent / f".{out.name}.shards-{token}"


def clear_leftover_shards(out: Path) -> None:
    """Remove the shards that a killed sharded build of ``out`` left (call with the cache's lock held)."""
    import shutil

    for leftover in out.parent.glob(f".{out.name}.shards-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def concatenated_ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """``np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)])``, vectorised."""
    starts, stops = np.asarray(starts, dtype=np.int64), np.asarray(stops, dtype=np.int64)
    lengths = stops - starts
    total = int(lengths.sum())
    begins = np.cumsum(lengths) - lengths  # where each range starts in the output
    return np.repeat(starts - begins, lengths) + np.arange(total, dtype=np.int64)


def subset_alignment(alignment: Alignment, example_ids: np.ndarray) -> Alignment:
    """The alignment of the examples ``example_ids`` (ascending) alone, with rows renumbered from 0.

    Parameters
    ----------
    alignment : Alignment
        Of the whole dataset.
    example_ids : array of int
        Ascending ids of the examples to keep.

    Returns
    -------
    Alignment
        What :func:`~explainer.pipeline.align.align_examples` returns for those examples (example ids of
        its model inputs are positions in ``example_ids``).
    """
    ids = np.asarray(example_ids, dtype=np.int64)
    sub_off, word_off = alignment.subword_offsets, alignment.word_offsets
    n_sub, n_words = sub_off[ids + 1] - sub_off[ids], word_off[ids + 1] - word_off[ids]
    new_sub_off = np.r_[0, np.cumsum(n_sub)].astype(np.int64)
    new_word_off = np.r_[0, np.cumsum(n_words)].astype(np.int64)
    rows = concatenated_ranges(sub_off[ids], sub_off[ids + 1])
    words = concatenated_ranges(word_off[ids], word_off[ids + 1])
    shift = sub_off[ids] - new_sub_off[:-1]  # global row - local row, per kept example
    position = np.full(len(sub_off) - 1, -1, dtype=np.int64)
    position[ids] = np.arange(len(ids))
    inputs = [
        ModelInput(
            item.input_ids,
            int(position[item.example_id]),
            item.window,
            item.source,
            item.target - shift[position[item.example_id]],
        )
        for item in alignment.inputs
        if position[item.example_id] >= 0
    ]
    return Alignment(
        input_ids=alignment.input_ids[rows],
        word_index=alignment.word_index[rows],
        label_id=alignment.label_id[rows],
        window=alignment.window[rows],
        subword_offsets=new_sub_off,
        word_offsets=new_word_off,
        word_rows=alignment.word_rows[words] - np.repeat(shift, n_words),
        word_n_subwords=alignment.word_n_subwords[words],
        windowed=alignment.windowed[ids],
        inputs=inputs,
        words_replaced_by_unk=0,
    )  # a count over the dataset; the merged build keeps the whole dataset's


def block_split(alignment: Alignment, n_parts: int) -> list[np.ndarray]:
    """Split the examples into ``n_parts`` contiguous blocks of about equal numbers of subwords."""
    cumulative = alignment.subword_offsets[1:]
    total = int(alignment.subword_offsets[-1])
    bounds = np.searchsorted(cumulative, [total * part / n_parts for part in range(1, n_parts)], side="left")
    edges = np.r_[0, bounds, len(cumulative)].astype(np.int64)
    edges = np.maximum.accumulate(edges)
    return [np.arange(edges[part], edges[part + 1], dtype=np.int64) for part in range(n_parts)]


def _ids_digest(input_ids: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(input_ids, dtype=np.int32).tobytes()).hexdigest()


class _DirectoryArrays:
    """The ``open_array`` part of a CacheWriter, for a plain directory (what pipeline._forward needs)."""

    def __init__(self, path: Path):
        self.path = path

    def open_array(self, name: str, shape, dtype) -> np.ndarray:
        return open_allocated_array(self.path / name, shape, dtype)


def write_shard(
    prepared,
    example_ids: np.ndarray,
    directory: str | Path,
    *,
    batch_size: int,
    progress: bool = True,
    label: str = "forward",
    fault: str | None = None,
) -> dict:
    """Run the model of ``prepared`` over the examples ``example_ids`` and write the shard to ``directory``.

    Parameters
    ----------
    prepared : pipeline.Prepared
        The whole dataset, prepared (loaded, labels aligned, tokenised) with the model to run.
    example_ids : array of int
        Ascending ids of this shard's examples (may be empty).
    directory : path
        Created if needed; anything in it is replaced.
    batch_size : int
    progress : bool
        Show a tqdm bar on stderr.
    fault : str, optional
        Test hook: ``"raise"`` raises after the forward pass, ``"kill"`` kills this process (SIGKILL).

    Returns
    -------
    dict
        The shard's ``shard.json``.
    """
    from explainer.pipeline.pipeline import _forward

    started = time.perf_counter()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / SHARD_INFO).unlink(missing_ok=True)
    ids = np.asarray(example_ids, dtype=np.int64)
    sub = subset_alignment(prepared.alignment, ids)
    np.save(directory / EXAMPLE_IDS, ids, allow_pickle=False)
    arrays = _DirectoryArrays(directory)
    # _forward only calls writer.open_array; its CacheWriter annotation (pipeline.py) should be a protocol.
    predictions = _forward(
        prepared.loaded,
        sub,
        arrays,  # type: ignore[arg-type]
        batch_size=batch_size,
        progress=progress,
        label=label,
    )
    if fault == "kill":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "raise":
        raise RuntimeError("fault injected by EXPLAINER_TEST_FAULT (test hook)")
    for field in PREDICTION_FIELDS:
        np.save(directory / f"{field}.npy", getattr(predictions, field), allow_pickle=False)
    hidden_size = None
    if sub.n_subwords:
        hidden_size = int(np.load(directory / schema.HIDDEN, mmap_mode="r", allow_pickle=False).shape[1])
    info = {
        "examples": int(len(ids)),
        "subwords": sub.n_subwords,
        "hidden_size": hidden_size,
        "labels": list(prepared.loaded.labels),
        "model": dict(prepared.loaded.info),
        "input_ids_sha256": _ids_digest(sub.input_ids),
        "device": str(prepared.loaded.device),
        "seconds": round(time.perf_counter() - started, 3),
    }
    (directory / SHARD_INFO).write_text(json.dumps(info, indent=1), encoding="utf-8")
    return info


def read_shard_info(directory: str | Path) -> dict | None:
    """The ``shard.json`` of a complete shard, or None when the shard is missing or incomplete."""
    try:
        return json.loads((Path(directory) / SHARD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def merge_shards(writer, prepared, directories: list[str | Path]) -> tuple[SubwordPredictions, list[dict]]:
    """Copy the shards' outputs into ``writer``'s ``probs.npy`` and ``hidden.npy``, in example order.

    Parameters
    ----------
    writer : CacheWriter
        The cache being written.
    prepared : pipeline.Prepared
        The whole dataset, prepared with a tokenizer and labels equal to the shards' models'.
    directories : list of path
        Complete shards whose examples together are every example exactly once.

    Returns
    -------
    (SubwordPredictions, list of dict)
        The predictions of every subword, and each shard's ``shard.json``.

    Raises
    ------
    ExplainerError
        If a shard is incomplete, its labels or tokens differ from ``prepared``, or the shards do not
        cover every example exactly once.
    """
    alignment, labels = prepared.alignment, list(prepared.loaded.labels)
    n_examples, n_subwords = len(alignment.subword_offsets) - 1, alignment.n_subwords
    infos, owner = [], np.full(n_examples, -1, dtype=np.int64)
    for index, directory in enumerate(directories):
        info = read_shard_info(directory)
        if info is None:
            raise ExplainerError(f"shard {directory} is incomplete (no {SHARD_INFO}); rebuild it")
        if info["labels"] != labels:
            raise ExplainerError(
                f"shard {directory} was built with labels {info['labels']}, not {labels}; every "
                "shard's model must have the same labels"
            )
        ids = np.load(Path(directory) / EXAMPLE_IDS, allow_pickle=False)
        if len(ids) and (
            ids.min() < 0 or ids.max() >= n_examples or (owner[ids] >= 0).any() or len(np.unique(ids)) != len(ids)
        ):
            raise ExplainerError(f"shard {directory} holds examples outside the dataset or already in another shard")
        owner[ids] = index
        info["example_ids"] = ids
        infos.append(info)
    if (owner < 0).any():
        raise ExplainerError(
            f"the shards miss {int((owner < 0).sum())} of {n_examples} examples "
            f"(first: example {int(np.flatnonzero(owner < 0)[0])}); rebuild them"
        )
    hidden_size = next(info["hidden_size"] for info in infos if info["hidden_size"])
    probs = writer.open_array(schema.PROBS, (n_subwords, len(labels)), np.float32)
    hidden = writer.open_array(schema.HIDDEN, (n_subwords, hidden_size), np.float16)
    predictions = SubwordPredictions(
        pred_id=np.zeros(n_subwords, dtype=np.int16),
        prob_pred=np.zeros(n_subwords, dtype=np.float32),
        prob_gold=np.full(n_subwords, np.nan, dtype=np.float32),
        loss=np.full(n_subwords, np.nan, dtype=np.float32),
    )
    for directory, info in zip(directories, infos):
        ids = info.pop("example_ids")
        rows = concatenated_ranges(alignment.subword_offsets[ids], alignment.subword_offsets[ids + 1])
        if len(rows) != info["subwords"] or _ids_digest(alignment.input_ids[rows]) != info["input_ids_sha256"]:
            raise ExplainerError(
                f"shard {directory} was tokenised differently from the dataset being merged "
                "(another tokenizer, --max-length or dataset); rebuild it"
            )
        if not len(rows):
            continue
        directory = Path(directory)
        for name, target in ((schema.PROBS, probs), (schema.HIDDEN, hidden)):
            source = np.load(directory / name, mmap_mode="r", allow_pickle=False)
            for start in range(0, len(rows), COPY_ROWS):
                target[rows[start : start + COPY_ROWS]] = source[start : start + COPY_ROWS]
        for field in PREDICTION_FIELDS:
            getattr(predictions, field)[rows] = np.load(directory / f"{field}.npy", allow_pickle=False)
    probs.flush()
    hidden.flush()
    del probs, hidden  # close the memory maps before the directory is renamed
    return predictions, infos
