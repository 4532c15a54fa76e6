"""Load a Hugging Face token-classification model and its fast tokenizer, with one-line errors.

The model is a hub id or a local directory saved with ``save_pretrained``. Its labels come from
``config.id2label``; a *fast* tokenizer is required because word alignment needs ``word_ids()``.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from explainer.errors import ExplainerError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# Files any tokenizer saved with ``save_pretrained`` leaves behind (one is enough).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack")
# Tokenizers report a huge model_max_length when no limit was saved with them.
UNSET_MAX_LENGTH = 1_000_000
# RoBERTa-style position ids start after the padding index, so two positions are never usable.
OFFSET_POSITION_MODELS = {
    "roberta",
    "xlm-roberta",
    "camembert",
    "longformer",
    "bart",
    "mbart",
    "ibert",
    "data2vec-text",
    "xmod",
    "roberta-prelayernorm",
    "luke",
    "mluke",
}


@dataclass
class LoadedModel:
    """A model ready for inference and what the manifest records about it."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    labels: list[str]
    device: object
    max_length: int
    info: dict = field(default_factory=dict)


def resolve_device(device: str):
    """The torch device for ``--device auto|cpu|cuda`` (auto: cuda when available).

    Raises
    ------
    ExplainerError
        If cuda is asked for but not available.
    """
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ExplainerError("--device cuda: no CUDA device is available to torch; use --device cpu or auto")
    if device not in ("cpu", "cuda"):
        raise ExplainerError(f"--device {device}: expected auto, cpu or cuda")
    return torch.device(device)


def load_model(
    name: str,
    *,
    revision: str | None = None,
    trust_remote_code: bool = False,
    device: str = "auto",
    allow_pickle_weights: bool = False,
) -> LoadedModel:
    """Load ``AutoModelForTokenClassification`` and ``AutoTokenizer`` from a hub id or a directory.

    Parameters
    ----------
    name : str
        A Hugging Face Hub id (``dslim/bert-base-NER``) or a local directory.
    revision : str, optional
        Hub branch, tag or commit.
    trust_remote_code : bool, default False
        Allow the model repository's own Python code to run (off unless asked for).
    device : {"auto", "cpu", "cuda"}
    allow_pickle_weights : bool, default False
        Accept a model whose weights exist only as pickled PyTorch files (``pytorch_model.bin``).
        Unpickling can run code, so such models are refused unless the user trusts them.

    Returns
    -------
    LoadedModel
        In eval mode on its device, with the label list (``config.id2label`` in id order), the
        usable maximum number of subwords per sequence and ``info`` for the manifest.

    Raises
    ------
    ExplainerError
        A missing directory, a directory without config or tokenizer, a slow tokenizer, or any
        loading failure (reported on one line).
    """
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

    local = _local_model_dir(name)
    if local and not allow_pickle_weights:
        refuse_pickled_only(local)
    torch_device = resolve_device(device)
    options = {"revision": revision, "trust_remote_code": trust_remote_code}
    with quiet_transformers():
        config = _load(AutoConfig.from_pretrained, name, "config", **options)
        tokenizer = _load(AutoTokenizer.from_pretrained, name, "tokenizer", **options)
        if not getattr(tokenizer, "is_fast", False):
            raise ExplainerError(
                f"model {name}: its tokenizer ({type(tokenizer).__name__}) is not a fast (Rust) tokenizer, and word "
                "alignment needs word_ids(); use a model that ships a tokenizer.json"
            )
        model = _load(
            AutoModelForTokenClassification.from_pretrained,
            name,
            "model",
            config=config,
            dtype=torch.float32,
            use_safetensors=None if allow_pickle_weights else True,
            **options,
        )
    model.to(torch_device).eval()
    labels = model_labels(config, name=name)
    max_length = model_max_length(tokenizer, config)
    info = {
        "id": str(local) if local else name,
        "revision": revision if local else (getattr(config, "_commit_hash", None) or revision),
        "files_sha256": weights_sha256(local) if local else None,
        "model_type": getattr(config, "model_type", None),
        "max_length": max_length,
        "hidden_size": int(getattr(config, "hidden_size", 0) or 0),
        "training_epoch": _training_epoch(local),
    }
    return LoadedModel(
        model=model, tokenizer=tokenizer, labels=labels, device=torch_device, max_length=max_length, info=info
    )


def _training_epoch(local: Path | None) -> int | None:
    """The epoch of an ``explainer train`` model directory (orders checkpoints in Compare), else None."""
    if local is None:
        return None
    from explainer.train.trainer import recorded_epoch  # imports this module: resolved when needed

    return recorded_epoch(local)


def refuse_pickled_only(directory: Path) -> None:
    """Raise unless ``directory`` has safetensors weights (pickled weights can run code when loaded)."""
    if any(directory.glob("*.safetensors")):
        return
    pickled = sorted(p.name for p in directory.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
    if pickled:
        raise ExplainerError(
            f"model directory {directory} has only pickled weights ({', '.join(pickled[:3])}); convert them to "
            "safetensors (model.save_pretrained(dir, safe_serialization=True)) or, if you trust the files, pass "
            "--allow-pickle-weights"
        )


def _local_model_dir(name: str) -> Path | None:
    """The model directory if ``name`` is a local path; None for a hub id. Checks what must be there."""
    path = Path(name).expanduser()
    if not path.exists():
        if name.startswith((".", "/", "~")) or name.count("/") > 1:
            raise ExplainerError(
                f"model directory {name} does not exist; pass a directory saved with "
                "save_pretrained or a Hugging Face Hub id"
            )
        return None
    if not path.is_dir():
        raise ExplainerError(f"model {name} is a file; pass the directory that holds config.json and the weights")
    if not (path / "config.json").is_file():
        raise ExplainerError(f"model directory {name} has no config.json; save the model there with save_pretrained")
    if not any((path / file).is_file() for file in TOKENIZER_FILES):
        raise ExplainerError(
            f"model directory {name} has no tokenizer (no tokenizer.json or tokenizer_config.json); "
            "save it there with tokenizer.save_pretrained"
        )
    return path.resolve()


def _load(loader, name: str, what: str, **kwargs):
    """Call a ``from_pretrained`` and turn any failure into a one-line ExplainerError."""
    try:
        return loader(name, **kwargs)
    except ExplainerError:
        raise
    except Exception as error:  # transformers and the hub raise many types; the user needs one line
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExplainerError(
            f"cannot load the {what} of model {name}: {reason} (check the id or path, --revision, "
            "network access, or --trust-remote-code for custom code)"
        ) from None


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' progress bars and warnings, so errors stay one line on stderr."""
    from transformers.utils import logging as hf_logging

    bars, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def model_labels(config, *, name: str = "model") -> list[str]:
    """The label names in id order from ``config.id2label``.

    Raises
    ------
    ExplainerError
        If the ids are not exactly 0..n-1.
    """
    id2label = {int(key): str(value) for key, value in (config.id2label or {}).items()}
    if not id2label or sorted(id2label) != list(range(len(id2label))):
        raise ExplainerError(
            f"model {name}: config.id2label must map the ids 0..n-1 to label names, found ids {sorted(id2label)}"
        )
    return [id2label[index] for index in range(len(id2label))]


def model_max_length(tokenizer, config) -> int:
    """The most subwords (special tokens included) one forward pass may take."""
    limits = []
    if 0 < (tokenizer.model_max_length or 0) < UNSET_MAX_LENGTH:
        limits.append(int(tokenizer.model_max_length))
    positions = getattr(config, "max_position_embeddings", None)
    if positions:
        offset = 2 if getattr(config, "model_type", None) in OFFSET_POSITION_MODELS else 0
        limits.append(int(positions) - offset)
    return min(limits) if limits else 512


def weights_sha256(directory: Path) -> str:
    """sha256 over the model directory's weight files (names and contents, in name order)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(directory).iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)):
        digest.update(path.name.encode("utf-8") + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
