"""``explainer check``: the data checks on a dataset as it loads, before (or without) a build.

Without ``--model`` it runs the checks that need the data alone (a shared prefix, ``I-`` repairs, long
entities, types without spans, duplicate and empty examples); with ``--model`` every check the build
runs (the tokenizer's view of the words, the label map, the window), after loading the model and
tokenising exactly as ``explainer build`` does, but with no forward pass and nothing written.
The options are ``explainer build``'s (explainer/pipeline/options.py).
"""

from __future__ import annotations

import argparse

from explainer.pipeline.options import BuildOptions, add_arguments

# The build options that say how to read the dataset and the model; the others concern the cache.
OPTIONS = (
    "dataset",
    "split",
    "tokens_column",
    "tags_column",
    "strip_prefix",
    "label_map",
    "tag_scheme",
    "revision",
    "trust_remote_code",
    "allow_pickle_weights",
    "max_length",
    "stride",
    "device",
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "check",
        help="run the data checks on a dataset as it loads (with --model: every check the build runs)",
        description="Load a dataset as `explainer build` does and print each data check's count, what to do "
        "and where the first findings are. Without --model, the checks that need the data alone; with it, "
        "every check of the build (the model is loaded and the data tokenised, but nothing is run or written).",
    )
    parser.add_argument(  # build's --model, optional here
        "--model",
        default=None,
        help="Hugging Face Hub id or local model directory (default: none, the dataset's checks)",
    )
    add_arguments(parser, BuildOptions, only=OPTIONS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from explainer.pipeline.data_checks import check_words, dataset_checks, find_all, report_lines
    from explainer.pipeline.model import quiet_transformers
    from explainer.pipeline.pipeline import load_data, prepare

    options = BuildOptions(model=args.model, out="", **{name: getattr(args, name) for name in OPTIONS})
    if options.model is None:
        dataset, _ = load_data(options)
        check_words(dataset)
        findings = dataset_checks(dataset)
        what = "the dataset's own checks (pass --model for the tokenizer's and the labels')"
    else:
        with quiet_transformers():
            prepared = prepare(options)
        dataset = prepared.dataset
        findings = find_all(
            dataset,
            prepared.aligned,
            model_labels=prepared.loaded.labels,
            tokenizer=prepared.loaded.tokenizer,
            windowed=prepared.alignment.windowed.tolist(),
            max_length=int(prepared.settings["max_length"]),
        )
        what = f"every check, with {options.model}"
    scheme = dataset.extra.get("tag_scheme")
    print(f"{options.dataset}: {len(dataset.examples):,} examples ({dataset.format}, tags {scheme}); {what}")
    print("\n".join(report_lines(findings, dataset)))
    return 0
