"""Fine-tune an encoder for token classification and save a model directory ``explainer build`` reads.

The recipe is the standard one for NER fine-tuning: each word's first subword carries its label,
the other subwords are IGN (-100); AdamW with linear warm-up and decay, gradient clipping, dynamic
padding (``DataCollatorForTokenClassification``). A plain PyTorch loop is used instead of
``transformers.Trainer``, which in transformers 5 needs ``accelerate`` and writes checkpoints we do
not want; the optimiser and schedule are the library's own.

The output directory is written to a temporary sibling and renamed into place when complete, with a
record (``explainer_train.json``) holding a fingerprint of base model + data + settings, so a second
run with the same inputs is skipped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from explainer import __version__
from explainer.data.example import Example, LoadedDataset
from explainer.errors import ExplainerError
from explainer.pipeline.model import model_max_length, quiet_transformers
from explainer.train.dynamics import DYNAMICS_FILE, SOURCE, DynamicsRecorder, write_dynamics
from explainer.train.options import TrainSettings

if TYPE_CHECKING:
    import torch

OUTSIDE = "O"
RECORD = "explainer_train.json"
# Bump when the training recipe changes in a way that changes the model for the same inputs.
RECIPE_VERSION = 1
# Without a terminal (no progress bar), one progress line per this many steps: 12 an epoch of the demo.
PROGRESS_EVERY_STEPS = 10


@dataclass
class TrainResult:
    """What :func:`train_model` did: the model directory, whether training was skipped, the record."""

    out: Path
    skipped: bool
    record: dict = field(default_factory=dict)

    @property
    def final_metrics(self) -> dict:
        """The last evaluation in the record's history (``{"epoch", "eval_f1", ...}``)."""
        return self.record["history"][-1]


def label_list(dataset: LoadedDataset) -> list[str]:
    """The labels a model trained on ``dataset`` predicts: its label set, sorted, with ``O`` first.

    Parameters
    ----------
    dataset : LoadedDataset
        Training data; its declared ``label_names`` (if any) and every tag seen count.

    Returns
    -------
    list of str
        ``["O", "B-...", ..., "I-..."]``; index = label id.

    Raises
    ------
    ExplainerError
        If the dataset has no entity label (every tag is ``O``, or there are no tags).
    """
    tags = dataset.tag_set() | set(dataset.label_names or ())
    entity_labels = sorted(tags - {OUTSIDE})
    if not entity_labels:
        raise ExplainerError(
            f"{dataset.spec}: no entity labels to learn ({len(dataset.examples)} examples, every tag is O); "
            "give a dataset with B-/I- tags, or name its tag column with --tags-column"
        )
    return [OUTSIDE] + entity_labels


def training_fingerprint(*, base: str, train: LoadedDataset, evaluation: LoadedDataset, settings: TrainSettings) -> str:
    """sha256 identifying a training run: base model files + training and evaluation data + settings.

    Parameters
    ----------
    base : str
        Base model directory (its files are hashed) or hub id (the id is hashed).
    train, evaluation : LoadedDataset
        The data as loaded (their example fingerprints are used).
    settings : TrainSettings

    Returns
    -------
    str
        64 hex digits.
    """
    payload = {
        "recipe": RECIPE_VERSION,
        "base": hash_model_files(base),
        "train": train.fingerprint(),
        "eval": evaluation.fingerprint(),
        "settings": asdict(settings),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def hash_model_files(model: str | Path) -> str:
    """sha256 over a model directory's relative file names and contents; for a hub id, over the id."""
    directory = Path(model)
    digest = hashlib.sha256()
    if not directory.is_dir():
        digest.update(f"id:{model}".encode())
        return digest.hexdigest()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode("utf-8") + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_record(out: Path) -> dict | None:
    """The training record of an existing model directory of ours, or None if there is none.

    Raises
    ------
    ExplainerError
        If ``out`` exists and holds something other than a model written by ``explainer train``
        (a non-directory, or a non-empty directory without a readable record).
    """
    out = Path(out)
    if not out.exists():
        return None
    if not out.is_dir():
        raise ExplainerError(
            f"--out {out} is a file; give a new directory or a model directory written by explainer train"
        )
    if not any(out.iterdir()):
        return None
    record_path = out / RECORD
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict) or "fingerprint" not in record:
        raise ExplainerError(
            f"--out {out} exists and is not a model written by explainer train (no valid "
            f"{RECORD}); give a new directory or remove it"
        )
    return record


def recorded_epoch(directory: str | Path) -> int | None:
    """The epoch the model in ``directory`` was saved at, from its training record: a
    ``--save-every-epoch`` checkpoint's ``epoch``, else the last epoch of a final model's history;
    None where there is no readable record (a model not trained by ``explainer train``, a Hub id)."""
    try:
        record = json.loads((Path(directory) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    if isinstance(record.get("epoch"), int):
        return int(record["epoch"])
    history = record.get("history")
    epochs = [entry.get("epoch") for entry in history if isinstance(entry, dict)] if isinstance(history, list) else []
    known = [epoch for epoch in epochs if isinstance(epoch, int)]
    return max(known) if known else None


def train_model(
    *,
    base: str,
    train: LoadedDataset,
    evaluation: LoadedDataset,
    out: str | Path,
    settings: TrainSettings = TrainSettings(),
    force: bool = False,
    save_every_epoch: bool = False,
    record_dynamics: bool = False,
    log: Callable[[str], None] = print,
    progress_every: int = PROGRESS_EVERY_STEPS,
) -> TrainResult:
    """Fine-tune ``base`` on ``train``, evaluate entity F1 on ``evaluation`` after each epoch, save to ``out``.

    Parameters
    ----------
    base : str
        A local model directory or hub id of an encoder the transformers Auto classes know.
    train : LoadedDataset
        Training examples (IOB2); their label set becomes the model's labels (:func:`label_list`).
    evaluation : LoadedDataset
        Held-out examples, tags already in the training label set (see :func:`align_labels`).
    out : str or Path
        Model directory to write (safetensors, tokenizer, ``id2label``, and ``explainer_train.json``).
    settings : TrainSettings
    force : bool, default False
        Train even when ``out`` holds a model with the same fingerprint.
    save_every_epoch : bool, default False
        Also keep the model after each epoch, in ``<out>-epoch<N>`` (:func:`checkpoint_dir`), each a
        complete model directory ``explainer build`` reads; their records hold the history so far.
        Training is not skipped while one of them is missing.
    record_dynamics : bool, default False
        Record, per epoch, the gold label's probability and margin of every training word from the
        training passes, stored beside the model (:mod:`explainer.train.dynamics`). Recording does not
        change the model (it is not in the fingerprint), but training is not skipped while the model
        has no dynamics.
    log : callable
        Receives one line per event (loading, each epoch's metrics, saving), and without a terminal on
        stderr (no progress bar then) a progress line every ``progress_every`` steps.
    progress_every : int

    Returns
    -------
    TrainResult

    Raises
    ------
    ExplainerError
        Bad settings, a base that is not a known encoder, training data without entity labels, or an
        ``out`` that exists and is not a model of ours.
    """
    settings.check()
    out = Path(out)
    labels = label_list(train)
    existing = read_record(out)
    started = time.perf_counter()
    fingerprint = training_fingerprint(base=base, train=train, evaluation=evaluation, settings=settings)
    # read_record refuses a checkpoint directory holding something not ours before any training.
    checkpoints = [read_record(checkpoint_dir(out, epoch)) for epoch in range(1, settings.epochs + 1)]
    missing_checkpoints = save_every_epoch and not all(checkpoints[: _planned_epochs(existing)])
    missing_dynamics = record_dynamics and not (out / DYNAMICS_FILE).is_file()
    stale = force or missing_checkpoints or missing_dynamics
    if existing is not None and existing["fingerprint"] == fingerprint and not stale:
        log(f"{out}: model is up to date (same base model, data and settings); skipping training")
        return TrainResult(out=out, skipped=True, record=existing)

    import torch

    model, tokenizer = load_base(base, labels=labels, seed=settings.seed)
    max_length = resolve_max_length(settings.max_length, tokenizer=tokenizer, config=model.config)
    label2id = {label: index for index, label in enumerate(labels)}
    features, n_truncated = encode_examples(
        train.examples, tokenizer=tokenizer, label2id=label2id, max_length=max_length
    )
    recorder = None
    if record_dynamics:
        words = labelled_words(train.examples, tokenizer=tokenizer, label2id=label2id, max_length=max_length)
        recorder = DynamicsRecorder(train.examples, words, epochs=settings.epochs)
    log(
        f"training {model.config.model_type} ({_count_parameters(model):,} parameters) on "
        f"{len(train.examples)} examples, evaluating on {len(evaluation.examples)}; {len(labels)} labels; "
        f"max length {max_length} subwords ({n_truncated} training examples truncated)"
    )
    torch.manual_seed(settings.seed)

    def evaluate_now(epoch: int, step: int, train_loss: float | None) -> dict:
        scores = evaluate(
            model,
            tokenizer,
            evaluation.examples,
            label2id=label2id,
            max_length=max_length,
            batch_size=max(settings.batch_size, 32),
        )
        entry = {"epoch": epoch, "step": step, "train_loss": train_loss, **scores}
        so_far.append(entry)
        if save_every_epoch and epoch > 0:
            checkpoint = checkpoint_dir(out, epoch)
            save_model(
                model,
                tokenizer,
                record={**record_of(list(so_far)), "fingerprint": f"{fingerprint}-epoch{epoch}", "epoch": epoch},
                out=checkpoint,
            )
            log(f"epoch {epoch}: kept the model in {checkpoint}")
        loss_text = "-" if train_loss is None else f"{train_loss:.4f}"
        log(
            f"epoch {epoch}: step {step}, train loss {loss_text}, eval loss {scores['eval_loss']:.4f}, "
            f"eval entity F1 {scores['eval_f1']:.4f} (P {scores['eval_precision']:.4f}, "
            f"R {scores['eval_recall']:.4f})"
        )
        return entry

    def record_of(history: list[dict]) -> dict:
        return {
            "fingerprint": fingerprint,
            "tool_version": __version__,
            "recipe": RECIPE_VERSION,
            "base": str(base),
            "train_dataset": _dataset_summary(train),
            "eval_dataset": _dataset_summary(evaluation),
            "settings": {**asdict(settings), "resolved_max_length": max_length},
            "labels": labels,
            "truncated_train_examples": n_truncated,
            "history": history,
            "seconds": round(time.perf_counter() - started, 1),
        }

    so_far: list[dict] = []
    history = [evaluate_now(0, 0, None)]
    history += run_training(
        model,
        tokenizer,
        features,
        settings=settings,
        on_epoch_end=evaluate_now,
        log=log,
        progress_every=progress_every,
        recorder=recorder,
    )
    record = record_of(history)
    extra = None
    if recorder is not None:
        dynamics = recorder.table(train_fingerprint=train.fingerprint(), labels=labels)
        record["dynamics"] = {"file": DYNAMICS_FILE, "words": dynamics.num_rows, "source": SOURCE}

        def extra(staging: Path) -> None:
            write_dynamics(dynamics, staging)

    save_model(model, tokenizer, record=record, out=out, extra=extra)
    log(f"saved the model to {out} ({record['seconds']:.0f} s)")
    return TrainResult(out=out, skipped=False, record=record)


def checkpoint_dir(out: str | Path, epoch: int) -> Path:
    """Where ``--save-every-epoch`` keeps the model of epoch ``epoch``: ``<out>-epoch<N>`` beside ``out``
    (not inside: the final model replaces ``out`` as a whole)."""
    out = Path(out)
    return out.parent / f"{out.name}-epoch{epoch}"


def _planned_epochs(record: dict | None) -> int:
    """The epochs a finished run recorded (0 without a record: nothing to check)."""
    history = (record or {}).get("history") or []
    return max((int(entry.get("epoch", 0)) for entry in history), default=0)


def load_base(base: str, *, labels: list[str], seed: int):
    """Load the base encoder with a freshly initialised token-classification head for ``labels``.

    Returns
    -------
    (PreTrainedModel, PreTrainedTokenizerFast)

    Raises
    ------
    ExplainerError
        If ``base`` is missing, is not a model the Auto classes know, is not an encoder, or has no
        fast tokenizer (needed to map words to subwords).
    """
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
        MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES,
    )

    if _looks_like_path(base) and not Path(base).is_dir():
        raise ExplainerError(
            f"--base {base}: no such model directory; give a directory with config.json "
            "and weights, or a model id in your Hugging Face cache"
        )
    try:
        with quiet_transformers():
            config = AutoConfig.from_pretrained(base)
    except (OSError, ValueError, KeyError) as error:
        raise ExplainerError(
            f"--base {base}: not a model the transformers Auto classes know "
            f"({_first_line(error)}); give an encoder such as a BERT model directory"
        ) from None
    model_type = config.model_type
    decoder_only = (
        model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    )
    if model_type not in MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES or config.is_encoder_decoder or decoder_only:
        raise ExplainerError(
            f"--base {base}: model type {model_type!r} is not an encoder with a token-"
            "classification head in transformers; use an encoder such as BERT, RoBERTa, "
            "DeBERTa or MiniLM"
        )
    tokenizer = load_tokenizer(base)
    torch.manual_seed(seed)  # the new classification head is initialised from this seed
    try:
        with quiet_transformers():  # "newly initialised classifier weights" is expected here
            model = AutoModelForTokenClassification.from_pretrained(
                base,
                num_labels=len(labels),
                id2label=dict(enumerate(labels)),
                label2id={label: index for index, label in enumerate(labels)},
                ignore_mismatched_sizes=True,
            )
    except (OSError, ValueError) as error:
        raise ExplainerError(f"--base {base}: cannot load its weights ({_first_line(error)})") from None
    return model, tokenizer


def load_tokenizer(base: str):
    """The base model's fast tokenizer, set up to take pre-split words.

    Byte-level BPE tokenizers (RoBERTa, GPT-2 style) need ``add_prefix_space=True`` for
    ``is_split_into_words``; they are reloaded with it when the first attempt refuses.
    """
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
    except (OSError, ValueError, TypeError) as error:
        raise ExplainerError(f"--base {base}: cannot load its tokenizer ({_first_line(error)})") from None
    if not tokenizer.is_fast:
        raise ExplainerError(
            f"--base {base}: its tokenizer is not a fast (Rust) tokenizer, which is needed to "
            "map words to subwords; save the model with a tokenizer.json"
        )
    try:
        tokenizer(["a", "b"], is_split_into_words=True)
    except (ValueError, AssertionError):
        tokenizer = AutoTokenizer.from_pretrained(base, add_prefix_space=True)
    return tokenizer


def resolve_max_length(max_length: int | None, *, tokenizer, config) -> int:
    """The subword limit used: ``max_length`` if given, else the model's own (as ``explainer build`` uses)."""
    model_limit = model_max_length(tokenizer, config)
    if max_length is None:
        return model_limit
    if max_length > model_limit:
        raise ExplainerError(f"--max-length {max_length} is more than the model accepts ({model_limit})")
    return max_length


def encode_examples(
    examples: list[Example], *, tokenizer, label2id: dict[str, int], max_length: int
) -> tuple[list[dict], int]:
    """Tokenise examples and label each word's first subword (the rest, and specials, are IGN).

    Examples longer than ``max_length`` subwords are truncated: their last words are not trained on.
    Tags unknown to ``label2id`` are IGN as well.

    Returns
    -------
    (list of dict, int)
        One ``{"input_ids", "attention_mask", "labels"}`` per example (plus ``token_type_ids`` when
        the tokenizer makes them), and how many examples were truncated.
    """
    features, n_truncated = [], 0
    for example in examples:
        feature, first_subwords = _encode_example(
            example, tokenizer=tokenizer, label2id=label2id, max_length=max_length
        )
        n_truncated += _is_truncated(example, first_subwords)
        features.append(feature)
    return features, n_truncated


def _encode_example(
    example: Example, *, tokenizer, label2id: dict[str, int], max_length: int
) -> tuple[dict, dict[int, int]]:
    """One training feature (gold label on each word's first subword, IGN elsewhere) and its word map."""
    from explainer.cache.schema import IGN

    encoding, first_subwords = tokenize_words(example, tokenizer=tokenizer, max_length=max_length)
    labels = [IGN] * len(encoding["input_ids"])
    for word_index, position in first_subwords.items():
        labels[position] = label2id.get(example.tags[word_index], IGN)
    return {**encoding, "labels": labels}, first_subwords


def tokenize_words(example: Example, *, tokenizer, max_length: int) -> tuple[dict, dict[int, int]]:
    """Tokenise one example's words (truncated to ``max_length`` subwords).

    Returns
    -------
    (dict, dict of int to int)
        The tokenizer's encoding as plain lists, and ``{word index: position of its first subword}``
        for every word that kept at least one subword.
    """
    encoding = tokenizer(list(example.words), is_split_into_words=True, truncation=True, max_length=max_length)
    first_subwords: dict[int, int] = {}
    for position, word_index in enumerate(encoding.word_ids()):
        if word_index is not None:
            first_subwords.setdefault(word_index, position)
    return dict(encoding), first_subwords


def labelled_words(examples: list[Example], *, tokenizer, label2id: dict[str, int], max_length: int) -> list[list[int]]:
    """Per example, the words whose first subword carries a label in its training feature (in subword order):
    the rows :class:`~explainer.train.dynamics.DynamicsRecorder` fills from a batch's labelled positions."""
    from explainer.cache.schema import IGN

    found = []
    for example in examples:
        feature, first_subwords = _encode_example(
            example, tokenizer=tokenizer, label2id=label2id, max_length=max_length
        )
        by_position = sorted((position, word) for word, position in first_subwords.items())
        found.append([word for position, word in by_position if feature["labels"][position] != IGN])
    return found


def _is_truncated(example: Example, first_subwords: dict[int, int]) -> bool:
    return bool(example.words) and max(first_subwords, default=-1) < len(example.words) - 1


def run_training(
    model,
    tokenizer,
    features: list[dict],
    *,
    settings: TrainSettings,
    on_epoch_end: Callable[[int, int, float], dict],
    log: Callable[[str], None] = print,
    progress_every: int = PROGRESS_EVERY_STEPS,
    recorder: DynamicsRecorder | None = None,
) -> list[dict]:
    """The optimisation loop: AdamW, linear warm-up/decay, clipping, progress; evaluates per epoch.

    Progress: a tqdm bar on stderr (steps, loss, time left) when stderr is a terminal; otherwise (a
    log file, CI) no bar, and ``log`` gets :func:`progress_line` every ``progress_every`` steps and at
    the last one.

    Batches group examples of similar length (``transformers``' ``LengthGroupedSampler``, as the
    Trainer's ``group_by_length``) so that little time goes into padding.

    With a ``recorder``, each step's logits (the training forward itself, no extra pass) are handed to it
    with the batch's example indexes.

    Returns
    -------
    list of dict
        What ``on_epoch_end(epoch, step, mean_train_loss)`` returned for each epoch run.
    """
    import torch
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm
    from transformers import DataCollatorForTokenClassification, get_linear_schedule_with_warmup
    from transformers.trainer_pt_utils import LengthGroupedSampler

    generator = torch.Generator().manual_seed(settings.seed)
    sampler = LengthGroupedSampler(
        settings.batch_size, lengths=[len(f["input_ids"]) for f in features], generator=generator
    )
    collate = DataCollatorForTokenClassification(tokenizer)

    def collate_indexed(items: list[tuple[int, dict]]) -> dict:
        batch = collate([feature for _, feature in items])
        batch["example_index"] = torch.tensor([index for index, _ in items])
        return batch

    loader: DataLoader[dict] = DataLoader(
        list(enumerate(features)),  # type: ignore[arg-type]  # a list is a map-style dataset; torch's stub asks for a Dataset
        batch_size=settings.batch_size,
        sampler=sampler,
        collate_fn=collate_indexed,
    )
    if settings.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    total_steps = settings.epochs * len(loader)
    if settings.max_steps is not None:
        total_steps = min(total_steps, settings.max_steps)
    n_epochs = math.ceil(total_steps / len(loader))
    optimizer = torch.optim.AdamW(_parameter_groups(model, settings.weight_decay), lr=settings.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_ratio * total_steps), total_steps)
    history, step, started = [], 0, time.perf_counter()
    with tqdm(
        total=total_steps, desc="training", unit="step", file=sys.stderr, disable=None, dynamic_ncols=True
    ) as bar:
        for epoch in range(1, n_epochs + 1):
            model.train()
            losses = []
            for batch in loader:
                example_index = batch.pop("example_index")
                outputs = model(**batch)
                loss = outputs.loss
                if recorder is not None:
                    recorder.add(epoch, example_index, outputs.logits, batch["labels"])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                losses.append(loss.item())
                step += 1
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{loss.item():.4f}")
                if bar.disable and (step % progress_every == 0 or step == total_steps):
                    log(progress_line(step, total_steps, loss.item(), time.perf_counter() - started))
                if step >= total_steps:
                    break
            history.append(on_epoch_end(epoch, step, sum(losses) / len(losses)))
    model.eval()
    return history


def progress_line(step: int, total_steps: int, loss: float, elapsed: float) -> str:
    """One line of training progress for a log without a progress bar.

    Examples
    --------
    >>> progress_line(50, 200, 0.41234, 30.0)
    'training: step 50/200 (25%), loss 0.4123, 30 s elapsed, about 1 min 30 s left'
    """
    left = elapsed / step * (total_steps - step) if step else 0.0
    return (
        f"training: step {step}/{total_steps} ({100 * step / total_steps:.0f}%), loss {loss:.4f}, "
        f"{_duration(elapsed)} elapsed, about {_duration(left)} left"
    )


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def evaluate(
    model, tokenizer, examples: list[Example], *, label2id: dict[str, int], max_length: int, batch_size: int = 32
) -> dict:
    """Entity-level scores (seqeval, micro average) and the mean loss of ``model`` on ``examples``.

    Each word is predicted from its first subword. Words cut off by ``max_length`` are predicted
    ``O`` (``explainer build`` windows long examples instead; its figures are the reference).

    Returns
    -------
    dict
        ``{"eval_loss", "eval_precision", "eval_recall", "eval_f1", "eval_support"}``.
    """
    import torch
    from transformers import DataCollatorForTokenClassification

    from explainer.analysis.metrics import entity_report

    id2label = {index: label for label, index in label2id.items()}
    collate = DataCollatorForTokenClassification(tokenizer)
    predicted, loss_sum, loss_count = [], 0.0, 0
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            chunk = examples[start : start + batch_size]
            encoded = [
                _encode_example(example, tokenizer=tokenizer, label2id=label2id, max_length=max_length)
                for example in chunk
            ]
            batch = collate([feature for feature, _ in encoded])
            outputs = model(**batch)
            n_labelled = int((batch["labels"] != -100).sum())
            if n_labelled:
                loss_sum += float(outputs.loss) * n_labelled
                loss_count += n_labelled
            label_ids = outputs.logits.argmax(-1).tolist()
            for row, example in enumerate(chunk):
                tags = [OUTSIDE] * len(example.words)  # words cut off by max_length stay O
                for word_index, position in encoded[row][1].items():
                    tags[word_index] = id2label[label_ids[row][position]]
                predicted.append(tags)
    report = entity_report([list(example.tags) for example in examples], predicted)
    micro = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0})
    return {
        "eval_loss": loss_sum / max(loss_count, 1),
        "eval_precision": micro["precision"],
        "eval_recall": micro["recall"],
        "eval_f1": micro["f1"],
        "eval_support": micro["support"],
    }


def save_model(model, tokenizer, *, record: dict, out: Path, extra: Callable[[Path], None] | None = None) -> None:
    """Write model, tokenizer and record to a temporary sibling, then rename it into place.

    An existing model of ours at ``out`` is replaced only once the new one is complete. ``extra`` writes
    more files into the temporary directory (the training dynamics), so they appear with the model.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with quiet_transformers():
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
        if extra is not None:
            extra(staging)
        (staging / RECORD).write_text(json.dumps(record, indent=2), encoding="utf-8")
        retired = out.parent / f".{out.name}.old-{os.getpid()}"
        if out.exists():
            out.rename(retired)
        staging.rename(out)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _parameter_groups(model, weight_decay: float) -> list[dict]:
    """No weight decay on biases and LayerNorm weights (the usual BERT fine-tuning convention)."""
    decayed: list[torch.nn.Parameter] = []
    undecayed: list[torch.nn.Parameter] = []
    for _name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (undecayed if parameter.ndim < 2 else decayed).append(parameter)
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": undecayed, "weight_decay": 0.0}]


def _dataset_summary(dataset: LoadedDataset) -> dict:
    return {
        "spec": dataset.spec,
        "format": dataset.format,
        "split": dataset.split,
        "examples": len(dataset.examples),
        "fingerprint": dataset.fingerprint(),
        "split_of_source": dataset.extra.get("split"),
    }


def _count_parameters(model) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def _looks_like_path(base: str) -> bool:
    """A hub id is ``name`` or ``owner/name``; anything else is meant as a directory."""
    return (
        Path(base).exists()
        or base.startswith((".", "/", "~"))
        or base.count("/") > 1
        or os.sep != "/"
        and os.sep in base
    )


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
