"""``explainer crossval``: out-of-fold outputs for a training set (K fine-tuned models, one cache)."""

from __future__ import annotations

import argparse
import sys

from explainer.commands.train import add_base_argument, add_training_arguments, training_settings


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "crossval",
        help="out-of-fold cache of a training set: K models, each scoring the fold it did not see",
        description="Split --dataset into K folds by a seeded hash of each example's words, fine-tune K models "
        "from --base (model k on every fold but k, as `explainer train` does), run model k over fold "
        "k, and merge the outputs into ONE cache for the whole dataset whose manifest says "
        "out_of_fold: true. Honest losses and label-quality scores for training data. Resumable: "
        "a rerun skips the folds finished in --work.",
    )
    add_base_argument(parser)
    parser.add_argument(
        "--dataset",
        required=True,
        metavar="SPEC",
        help="the data to score: CoNLL/JSONL/Prodigy file, save_to_disk directory or hub name",
    )
    parser.add_argument("--out", required=True, help="cache directory to write (replaced if it is a cache)")
    parser.add_argument("--folds", type=int, default=5, metavar="K", help="number of folds and models (default 5)")
    parser.add_argument("--fold-seed", type=int, default=0, help="seed of the hash assigning folds (default 0)")
    parser.add_argument(
        "--work", metavar="DIR", help="fold models, shards and state.json, kept for resuming (default: <out>-folds)"
    )
    parser.add_argument("--split", help="split of a save_to_disk/hub dataset (default: train)")
    parser.add_argument("--tokens-column", help="field/column holding the words (JSONL, datasets)")
    parser.add_argument("--tags-column", help="field/column holding the tags (JSONL, datasets)")
    training = parser.add_argument_group("training of each fold model (as explainer train)")
    add_training_arguments(
        training,
        what="the training folds",
        batch_size_flag="--train-batch-size",
        seed_flag="--train-seed",
        steps="stop each fold after this many steps",
    )
    building = parser.add_argument_group("the cache")
    building.add_argument("--batch-size", type=int, default=32, help="sequences per forward pass (default 32)")
    building.add_argument(
        "--max-length",
        type=int,
        help="subwords per sequence: training truncation and build windows (default: the model's)",
    )
    building.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where to run the models (default: auto, cuda when available)",
    )
    building.add_argument(
        "--projection",
        choices=("umap", "pca", "none"),
        default="none",
        help="2-D projection of the hidden states (default none: K models' hidden states share no space)",
    )
    building.add_argument(
        "--label-quality",
        default="self_confidence",
        metavar="METHOD",
        help="cleanlab label-quality method, or none (default: self_confidence)",
    )
    building.add_argument("--seed", type=int, default=0, help="seed of the sampled analyses (default 0)")
    parser.add_argument(
        "--force", action="store_true", help="start over in a --work of other inputs, and replace a non-cache --out"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from explainer.pipeline.pipeline import summary_line
    from explainer.train.crossval import CrossvalOptions, run_crossval, work_directory

    settings = training_settings(args)
    options = CrossvalOptions(
        base=args.base,
        dataset=args.dataset,
        out=args.out,
        folds=args.folds,
        fold_seed=args.fold_seed,
        work=args.work,
        split=args.split,
        tokens_column=args.tokens_column,
        tags_column=args.tags_column,
        train=settings,
        batch_size=args.batch_size,
        max_length=args.max_length,
        device=args.device,
        projection=args.projection,
        label_quality=args.label_quality,
        seed=args.seed,
        force=args.force,
    )
    try:
        manifest = run_crossval(options)
    except KeyboardInterrupt:
        print(
            f"error: interrupted; the folds finished so far are kept in {work_directory(options)}: run the same "
            "command again to resume",
            file=sys.stderr,
        )
        return 130
    print(f"{summary_line(manifest, args.out)}; out-of-fold over {args.folds} folds", flush=True)
    return 0
