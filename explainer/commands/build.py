"""``explainer build``: precompute a token-classification model's outputs on a dataset into a cache."""

from __future__ import annotations

import argparse

from explainer.pipeline.options import BuildOptions, add_arguments, from_arguments


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "build",
        help="run a model over a dataset and write the cache the app reads",
        description="Run a Hugging Face token-classification model over a dataset and write a versioned cache "
        "directory (manifest.json, Parquet tables, .npy arrays). An existing cache at --out is replaced "
        "atomically when the new one is complete.",
    )
    add_arguments(parser, BuildOptions)  # every option is a field of BuildOptions (explainer/pipeline/options.py)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from explainer.pipeline.data_checks import summary_line as data_checks_line
    from explainer.pipeline.pipeline import build_cache, summary_line, write_label_map_template

    options = from_arguments(BuildOptions, args)
    if options.write_label_map_template is not None:  # a file to fill in, not a build
        written = write_label_map_template(options)
        print(f"wrote a label map template to {written}: fill in its empty values and pass it with --label-map")
        return 0
    manifest = build_cache(options)
    if manifest is None:  # a rank other than 0 of a sharded build (torchrun): rank 0 writes the cache
        from explainer.pipeline.distributed import rank_note

        print(rank_note(), flush=True)
        return 0
    print(summary_line(manifest, args.out), flush=True)
    checked = data_checks_line(manifest)
    if checked:
        print(checked, flush=True)
    return 0
