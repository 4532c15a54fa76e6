"""Out-of-fold outputs for a training set: K fine-tuned models, one cache, no example scored by a model that saw it.

Scores on the data a model was trained on are over-confident, so label-quality scores and losses there
say little. ``explainer crossval`` assigns every example to one of K folds by a seeded hash of its words
(as the train/eval split does: stable across runs, and a repeated sentence stays in one fold), fine-tunes
model k on every fold but k (``explainer train``'s code), runs model k over fold k only, writing a shard
(explainer/pipeline/shards.py), and finally merges the K shards into one cache for the whole dataset, whose
metrics, spans and analyses (label quality above all) are computed once on the merged outputs.

Resumable fold by fold: the work directory holds each fold's model and shard and ``state.json``; a rerun
skips the folds whose shard is complete, retrains none that finished (``explainer train`` skips a model
that is up to date), and refuses a work directory made from other inputs (base model, data, folds,
seed, settings) unless ``--force``::

    <work>/state.json            {"inputs": {...}, "inputs_sha256", "folds": {"k": summary of fold k}}
    <work>/fold-<k>/model/       model k (explainer train's output directory)
    <work>/fold-<k>/shard/       model k's outputs on fold k's examples
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from explainer.cache import schema
from explainer.data.example import Example, LoadedDataset
from explainer.errors import ExplainerError
from explainer.pipeline.options import BuildOptions, manifest_entries, shared_values
from explainer.train.options import CrossvalOptions

STATE = "state.json"
FOLDS_FILE = schema.FOLDS  # in the cache: int16 [n_examples], the fold of example i (= the model that scored it)
STATE_VERSION = 1


def fold_of(example: Example, *, folds: int, seed: int) -> int:
    """The fold of ``example``: a seeded sha256 of its words, modulo ``folds`` (only the words count)."""
    payload = json.dumps([seed, list(example.words)], ensure_ascii=False).encode("utf-8")
    return int.from_bytes(hashlib.sha256(payload).digest()[:8], "big") % folds


def assign_folds(dataset: LoadedDataset, *, folds: int, seed: int) -> np.ndarray:
    """The fold of every example, in dataset order (int16).

    Raises
    ------
    ExplainerError
        If ``folds`` is below 2 or a fold would be empty (too few distinct examples).
    """
    if folds < 2:
        raise ExplainerError(f"--folds {folds}: needs at least 2 (each model is trained on the other folds)")
    assignment = np.fromiter(
        (fold_of(example, folds=folds, seed=seed) for example in dataset.examples),
        dtype=np.int16,
        count=len(dataset.examples),
    )
    sizes = np.bincount(assignment, minlength=folds)
    if (sizes == 0).any():
        raise ExplainerError(
            f"{dataset.spec}: {len(dataset.examples)} examples leave fold "
            f"{int(np.flatnonzero(sizes == 0)[0])} of {folds} empty; use fewer --folds or more data"
        )
    return assignment


def entity_forms(example: Example) -> frozenset[str]:
    """The surface forms of the example's gold entities (their words, case-folded, joined by a space)."""
    from explainer.analysis.spans import extract_spans

    return frozenset(" ".join(example.words[start:end]).casefold() for start, end, _ in extract_spans(example.tags))


def assign_disjoint_folds(dataset: LoadedDataset, *, folds: int, seed: int) -> np.ndarray:
    """Folds for entity-disjoint cross-validation (as CrossWeigh): each surface form gets a fold by a seeded
    hash, and an example goes to the fold of its first form in hash order, so the examples sharing a form
    mostly share a fold; an example without entities goes by its words (:func:`fold_of`).

    Raises
    ------
    ExplainerError
        As :func:`assign_folds`.
    """
    assignment = assign_folds(dataset, folds=folds, seed=seed)

    def form_hash(form: str) -> int:
        payload = json.dumps([seed, "entity", form], ensure_ascii=False).encode("utf-8")
        return int.from_bytes(hashlib.sha256(payload).digest()[:8], "big")

    for index, example in enumerate(dataset.examples):
        forms = entity_forms(example)
        if forms:
            assignment[index] = min(form_hash(form) for form in forms) % folds
    sizes = np.bincount(assignment, minlength=folds)
    if (sizes == 0).any():
        raise ExplainerError(
            f"{dataset.spec}: entity-disjoint folds leave fold {int(np.flatnonzero(sizes == 0)[0])} of {folds} "
            "empty; use fewer --folds"
        )
    return assignment


def disjoint_training(dataset: LoadedDataset, assignment: np.ndarray, fold: int) -> np.ndarray:
    """Which examples model ``fold`` may train on so that no entity surface form of fold ``fold`` is seen in
    training: the other folds' examples minus those mentioning one of its forms (CrossWeigh drops them too)."""
    forms = [entity_forms(example) for example in dataset.examples]
    held_out: set[str] = set().union(*(forms[i] for i in np.flatnonzero(assignment == fold)))
    return np.array([assignment[i] != fold and not (forms[i] & held_out) for i in range(len(forms))], dtype=bool)


def fold_datasets(
    dataset: LoadedDataset,
    assignment: np.ndarray,
    fold: int,
    labels: list[str],
    *,
    training: np.ndarray | None = None,
) -> tuple[LoadedDataset, LoadedDataset]:
    """(training part: every other fold, or the examples ``training`` keeps, held-out part: fold ``fold``),
    both declaring the full label list."""

    def part(keep: np.ndarray, name: str) -> LoadedDataset:
        extra = {**dataset.extra, "split": {"part": name, "fold": fold, "of_fingerprint": dataset.fingerprint()}}
        return replace(
            dataset,
            examples=[dataset.examples[i] for i in np.flatnonzero(keep)],
            skipped_empty=0,
            extra=extra,
            label_names=list(labels),
        )  # every fold model gets the same labels, in order

    return part(assignment != fold if training is None else training, "train"), part(assignment == fold, "held out")


def work_directory(options: CrossvalOptions) -> Path:
    out = Path(options.out).expanduser().absolute()
    return Path(options.work).expanduser().absolute() if options.work else out.parent / f"{out.name}-folds"


def build_options(options: CrossvalOptions, model: str | Path) -> BuildOptions:
    """The ``explainer build`` options that run ``model`` over the dataset for this cross-validation: the
    options crossval shares with the build, no activations (they belong to one model; here each example had its own)."""
    return BuildOptions(model=str(model), activations_sample=0, **shared_values(options))


def _inputs(options: CrossvalOptions, dataset: LoadedDataset, labels: list[str]) -> dict:
    """What the folds depend on; a work directory made from other inputs is not reused."""
    from explainer.train.trainer import hash_model_files

    return {
        "version": STATE_VERSION,
        "base": hash_model_files(options.base),
        "dataset": dataset.fingerprint(),
        "folds": options.folds,
        "fold_seed": options.fold_seed,
        # only when asked for, so that the work directories of earlier runs keep their digest
        **({"disjoint_entities": True} if options.disjoint_entities else {}),
        "labels": labels,
        "train": asdict(options.train),
        "build": {"batch_size": options.batch_size, "max_length": options.max_length, "device": options.device},
    }


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def _write_state(work: Path, state: dict) -> None:
    staging = work / f".{STATE}.tmp-{os.getpid()}"
    staging.write_text(json.dumps(state, indent=1), encoding="utf-8")
    os.replace(staging, work / STATE)  # atomic: an interrupted run leaves the previous state


def open_work(work: Path, inputs: dict, *, force: bool) -> dict:
    """The state of work directory ``work`` for ``inputs`` (new if absent).

    Raises
    ------
    ExplainerError
        If ``work`` holds folds of other inputs, or is a non-empty directory that is not ours (without ``force``).
    """
    digest = _digest(inputs)
    if work.exists() and not work.is_dir():
        raise ExplainerError(f"--work {work} is a file; give a directory for the fold models and shards")
    state = None
    if work.is_dir() and any(work.iterdir()):
        try:
            state = json.loads((work / STATE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = None
        if force:
            shutil.rmtree(work)
            state = None
        elif state is None or "inputs_sha256" not in state:
            raise ExplainerError(
                f"--work {work} is a non-empty directory without a readable {STATE}; give another "
                "--work, or pass --force to replace it"
            )
        elif state["inputs_sha256"] != digest:
            changed = sorted(key for key in inputs if state.get("inputs", {}).get(key) != inputs[key])
            raise ExplainerError(
                f"--work {work} holds folds made from other inputs (changed: {', '.join(changed)}); "
                "pass --force to start over there, or give another --work"
            )
    if state is None:
        work.mkdir(parents=True, exist_ok=True)
        state = {"inputs": inputs, "inputs_sha256": digest, "folds": {}}
        _write_state(work, state)
    return state


def run_crossval(options: CrossvalOptions, *, progress: bool = True, log=None) -> dict:
    """Train the fold models, build their shards (skipping finished folds) and merge them; return the manifest.

    Raises
    ------
    ExplainerError
        On bad input or a work directory of other inputs; the cache at ``options.out`` is then untouched.
    """
    from tqdm import tqdm

    from explainer.cache.writer import CacheWriter, check_output
    from explainer.data.loaders import detect_format, load_dataset
    from explainer.pipeline import pipeline, shards
    from explainer.pipeline.data_checks import check_words
    from explainer.pipeline.model import quiet_transformers
    from explainer.train.trainer import label_list, train_model

    started = time.perf_counter()
    options.train.check()
    out = check_output(options.out, force=options.force)  # fail before hours of training, not after
    split = options.split or ("train" if detect_format(options.dataset) in ("disk", "hub") else None)
    options = replace(options, split=split)
    dataset = load_dataset(
        options.dataset,
        split=split,
        tokens_column=options.tokens_column,
        tags_column=options.tags_column,
        strip_prefix=options.strip_prefix,
    )
    check_words(dataset)  # before hours of training, as the build does before its forward pass
    labels = label_list(dataset)
    assign = assign_disjoint_folds if options.disjoint_entities else assign_folds
    assignment = assign(dataset, folds=options.folds, seed=options.fold_seed)
    pipeline.check_step_options(build_options(options, options.base))
    work = work_directory(options)
    state = open_work(work, _inputs(options, dataset, labels), force=options.force)

    folds_started = time.perf_counter()
    with tqdm(total=options.folds, desc="folds", unit="fold", file=sys.stderr, disable=not progress) as bar:
        say = log or bar.write
        for fold in range(options.folds):
            fold_dir = work / f"fold-{fold}"
            done = state["folds"].get(str(fold))
            if done is not None and shards.read_shard_info(fold_dir / "shard") is not None:
                say(f"fold {fold + 1}/{options.folds}: done in an earlier run; skipped")
                bar.update(1)
                continue
            training = disjoint_training(dataset, assignment, fold) if options.disjoint_entities else None
            train, held_out = fold_datasets(dataset, assignment, fold, labels, training=training)
            say(
                f"fold {fold + 1}/{options.folds}: training on {len(train.examples)} examples, "
                f"scoring {len(held_out.examples)}"
            )
            result = train_model(
                base=options.base,
                train=train,
                evaluation=held_out,
                out=fold_dir / "model",
                settings=options.train,
                log=say,
            )
            with quiet_transformers():
                prepared = pipeline.prepare(build_options(options, fold_dir / "model"))
            if list(prepared.loaded.labels) != labels:
                raise ExplainerError(
                    f"fold {fold}: model labels {prepared.loaded.labels} differ from the data's {labels}"
                )
            shard = shards.write_shard(
                prepared,
                np.flatnonzero(assignment == fold),
                fold_dir / "shard",
                batch_size=options.batch_size,
                progress=progress,
                label=f"forward (fold {fold + 1}/{options.folds})",
            )
            state["folds"][str(fold)] = {
                "fold": fold,
                "model": shard["model"],
                "train_examples": len(train.examples),
                "train_fingerprint": train.fingerprint(),
                "heldout_examples": len(held_out.examples),
                "heldout_fingerprint": held_out.fingerprint(),
                "eval_f1": result.final_metrics.get("eval_f1"),
                "trained_seconds": result.record.get("seconds"),
                "scored_seconds": shard["seconds"],
            }
            _write_state(work, state)
            bar.update(1)

    folds_seconds = time.perf_counter() - folds_started
    # Merge: the tokenizer and labels are the same in every fold model (checked by the merge).
    merge_options = build_options(options, work / "fold-0" / "model")
    with quiet_transformers():
        prepared = pipeline.prepare(merge_options)
        if prepared.dataset.fingerprint() != dataset.fingerprint():
            raise ExplainerError(f"{options.dataset} changed during the cross-validation; run it again")
        with CacheWriter(out, force=options.force) as writer:
            mark = time.perf_counter()
            predictions, _ = shards.merge_shards(
                writer, prepared, [work / f"fold-{fold}" / "shard" for fold in range(options.folds)]
            )
            np.save(writer.path / FOLDS_FILE, assignment, allow_pickle=False)
            prepared.timings["merge"] = time.perf_counter() - mark
            prepared.timings["folds"] = folds_seconds  # training and scoring of the folds run this time
            crossval = {
                "folds": options.folds,
                "seed": options.fold_seed,
                "disjoint_entities": options.disjoint_entities,
                "assignment": FOLDS_FILE,
                "work": str(work),
                "train_settings": asdict(options.train),
                "models": [state["folds"][str(fold)] for fold in range(options.folds)],
            }
            return pipeline.finish_cache(
                writer,
                merge_options,
                prepared,
                predictions,
                started=started,
                progress=progress,
                manifest_extra={"out_of_fold": True, "crossval": crossval, **manifest_entries(options)},
            )
