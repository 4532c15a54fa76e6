"""``explainer crossval``: out-of-fold outputs for a training set (K fine-tuned models, one cache)."""

from __future__ import annotations

import argparse
import sys

from explainer.pipeline.options import add_arguments, from_arguments
from explainer.train.options import CrossvalOptions


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
    add_arguments(parser, CrossvalOptions)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from explainer.pipeline.pipeline import summary_line
    from explainer.train.crossval import run_crossval, work_directory

    options = from_arguments(CrossvalOptions, args)
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
