"""``explainer train``: fine-tune an encoder for token classification on a dataset.

The model's labels are the training data's label set (sorted, ``O`` first). Evaluation data is
either a second dataset (``--eval-dataset``) or a deterministic hash split of ``--dataset``
(``--eval-fraction``, ``--split-seed``); entity F1 on it is printed after each epoch. The output
directory is a complete model (safetensors, tokenizer, ``id2label``) that ``explainer build`` reads.
"""

from __future__ import annotations

import argparse

from explainer.data.example import LoadedDataset
from explainer.errors import ExplainerError
from explainer.pipeline.options import BuildOptions, add_arguments, from_arguments
from explainer.train.options import CrossvalOptions, TrainSettings


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="fine-tune an encoder for NER on a dataset",
        description="Fine-tune an encoder (BERT, RoBERTa, MiniLM...) for token classification and save a "
        "model directory that `explainer build` reads. Skipped when --out already holds a model "
        "trained from the same base model, data and settings.",
    )
    add_arguments(parser, CrossvalOptions, only=("base",))  # --base as crossval declares it
    parser.add_argument(
        "--dataset",
        required=True,
        metavar="SPEC",
        help="training data: CoNLL/JSONL/Prodigy file, save_to_disk directory or hub name",
    )
    parser.add_argument("--split", help="split of a save_to_disk/hub dataset to train on (default: train)")
    parser.add_argument("--tokens-column", help="field/column holding the words (JSONL, datasets)")
    parser.add_argument("--tags-column", help="field/column holding the tags (JSONL, datasets)")
    add_arguments(  # as explainer build declares them; they apply to --eval-dataset too
        parser,
        BuildOptions,
        only=("tag_scheme", "strip_prefix"),
        help={
            "tag_scheme": "the datasets' tag scheme, converted to IOB2 on load (default: auto, detected in each)",
            "strip_prefix": "remove PREFIX from every word that starts with it, in --dataset and --eval-dataset "
            "(e.g. en: before each WikiANN word)",
        },
    )
    evaluation = parser.add_argument_group("evaluation data (default: hold out --eval-fraction of --dataset)")
    evaluation.add_argument("--eval-dataset", metavar="SPEC", help="a separate evaluation dataset")
    evaluation.add_argument("--eval-split", help="split of --eval-dataset (default: test, else validation)")
    evaluation.add_argument(
        "--label-map", metavar="FILE", help="JSON map from --eval-dataset tags or types to the training labels"
    )
    evaluation.add_argument(
        "--eval-fraction",
        type=float,
        default=0.2,
        help="share of --dataset held out when there is no --eval-dataset (default 0.2)",
    )
    evaluation.add_argument(
        "--split-seed", type=int, default=0, help="seed of the hash that splits --dataset (default 0)"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    add_arguments(parser.add_argument_group("training settings"), TrainSettings)
    parser.add_argument("--force", action="store_true", help="train even if --out is up to date")
    parser.add_argument(
        "--save-every-epoch",
        action="store_true",
        help="also keep each epoch's model in <out>-epoch<N> (build a cache of each, then explainer compare them)",
    )
    parser.add_argument(
        "--record-dynamics",
        action="store_true",
        help="record, per epoch, the gold label's probability and margin of every training word (from the training "
        "passes, no extra pass) beside the model; a build on the training data then shows the Data map",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from explainer.train.trainer import read_record, train_model

    settings = from_arguments(TrainSettings, args)
    settings.check()
    read_record(args.out)  # refuse an --out that is not ours before any loading
    train, evaluation = load_training_data(args)
    result = train_model(
        base=args.base,
        train=train,
        evaluation=evaluation,
        out=args.out,
        settings=settings,
        force=args.force,
        save_every_epoch=args.save_every_epoch,
        record_dynamics=args.record_dynamics,
    )
    final = result.final_metrics
    print(
        f"entity F1 on the evaluation data: {final['eval_f1']:.4f} "
        f"(precision {final['eval_precision']:.4f}, recall {final['eval_recall']:.4f}); model: {result.out}"
    )
    return 0


def load_training_data(args: argparse.Namespace) -> tuple[LoadedDataset, LoadedDataset]:
    """The training and evaluation datasets the options describe (evaluation tags renamed to the training labels)."""
    from explainer.data.labels import align_labels, read_label_map
    from explainer.data.loaders import detect_format, load_dataset
    from explainer.train.split import split_dataset
    from explainer.train.trainer import label_list

    split = args.split or ("train" if detect_format(args.dataset) in ("disk", "hub") else None)
    as_given = {
        "tokens_column": args.tokens_column,
        "tags_column": args.tags_column,
        "tag_scheme": args.tag_scheme,
        "strip_prefix": args.strip_prefix,
    }
    dataset = load_dataset(args.dataset, split=split, **as_given)
    labels = label_list(dataset)  # fails early, before the split, on data without entity labels
    if args.eval_dataset is None:
        train, evaluation = split_dataset(dataset, eval_fraction=args.eval_fraction, seed=args.split_seed)
        train.label_names = evaluation.label_names = labels  # a type seen only in the held-out part stays known
        return train, evaluation
    evaluation = load_dataset(args.eval_dataset, split=args.eval_split, **as_given)
    label_map = read_label_map(args.label_map) if args.label_map else None
    try:
        return dataset, align_labels(evaluation, labels, label_map=label_map)
    except ExplainerError as error:  # "the model" there is the training data's label set here
        raise ExplainerError(f"--eval-dataset {args.eval_dataset} has tags the training data lacks: {error}") from None
