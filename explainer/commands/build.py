"""``explainer build``: precompute a token-classification model's outputs on a dataset into a cache."""

from __future__ import annotations

import argparse

from explainer.pipeline.options import BuildOptions, add_arguments, per_value


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "build",
        help="run a model over a dataset and write the cache the app reads",
        description="Run a Hugging Face token-classification model over a dataset and write a versioned cache "
        "directory (manifest.json, Parquet tables, .npy arrays). An existing cache at --out is replaced "
        "atomically when the new one is complete. With several --model (e.g. the checkpoints of one training "
        "run), one cache per model is written in --out, named after the model directory.",
    )
    # Every option is a field of BuildOptions (explainer/pipeline/options.py); --model may be repeated.
    add_arguments(parser, BuildOptions, repeated=("model",))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from explainer.pipeline.data_checks import summary_line as data_checks_line
    from explainer.pipeline.pipeline import build_cache, summary_line, write_label_map_template

    each = per_value(BuildOptions, args, "model")  # the options of one build name one model (its manifest's)
    options = each[0]
    if len(each) > 1:
        return run_several(options, [one.model for one in each])
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


def run_several(options: BuildOptions, models: list[str]) -> int:
    """One cache per model in ``--out`` (explainer/pipeline/several.py), a summary line after each."""
    from explainer.errors import ExplainerError
    from explainer.pipeline.data_checks import summary_line as data_checks_line
    from explainer.pipeline.pipeline import summary_line
    from explainer.pipeline.several import build_caches, options_per_model

    if options.write_label_map_template is not None:
        raise ExplainerError("--write-label-map-template takes one --model; write one template per model")

    def built(one: BuildOptions, manifest: dict | None) -> None:
        if manifest is not None:
            print(summary_line(manifest, one.out), flush=True)

    manifests = build_caches(options_per_model(options, models), built=built)
    checked = data_checks_line(manifests[0]) if manifests[0] is not None else None
    if checked:  # the same data in every cache: its checks once
        print(checked, flush=True)
    return 0
