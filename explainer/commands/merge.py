"""``explainer merge``: apply a review's corrections to the original dataset file."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from explainer.data.labels import AUTO, TAG_SCHEMES
from explainer.errors import ExplainerError
from explainer.pipeline.options import BuildOptions, add_arguments


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "merge",
        help="apply the corrections of the review queue to a dataset; other examples stay byte-for-byte",
        description="Apply corrections (the .corrections.jsonl file beside a cache) to a dataset by example hash. "
        "Examples without a correction are copied byte-for-byte when the output has the input's form.",
    )
    parser.add_argument("--dataset", required=True, metavar="SPEC", help="the dataset, as given to explainer build")
    parser.add_argument("--corrections", required=True, metavar="FILE", help="the corrections file (JSONL)")
    parser.add_argument("--out", required=True, metavar="FILE", help="where to write the merged dataset")
    parser.add_argument(
        "--format",
        choices=("conll", "jsonl"),
        default=None,
        help="output form (default: the input's; jsonl for datasets directories)",
    )
    parser.add_argument("--split", default=None, help="split of a datasets directory or Hub dataset")
    parser.add_argument("--tokens-column", default=None, help="field holding the words (JSONL, datasets)")
    parser.add_argument("--tags-column", default=None, help="field holding the tags (JSONL, datasets)")
    parser.add_argument(
        "--label-map",
        default=None,
        metavar="FILE",
        help="the build's label map (default: the one recorded in the corrections)",
    )
    parser.add_argument(
        "--tag-scheme",
        choices=(AUTO, *TAG_SCHEMES),
        default=None,
        help="the dataset's tag scheme, as given to explainer build; corrections are written in it "
        "(default: the build's, from the cache beside the corrections file, else auto)",
    )
    add_arguments(
        parser,
        BuildOptions,
        only=("strip_prefix",),
        help={
            "strip_prefix": "as given to explainer build: examples are matched without PREFIX, the file keeps "
            "it (default: the build's, from the cache beside the corrections file)"
        },
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from explainer.data.labels import read_label_map
    from explainer.data.loaders import detect_format
    from explainer.review.corrections import CorrectionsWarning, read_decisions
    from explainer.review.merge import manifest_beside, merge_bytes, source_of_manifest, write_atomically

    corrections, out = Path(args.corrections).expanduser(), Path(args.out).expanduser()
    if not corrections.is_file():
        raise ExplainerError(
            f"{corrections} does not exist or is not a file; pass the .corrections.jsonl file "
            "written beside the cache by the Review tab"
        )
    dataset_path = Path(args.dataset).expanduser()
    for protected, what in ((dataset_path, "the input dataset"), (corrections, "the corrections file")):
        if protected.exists() and out.exists() and out.resolve() == protected.resolve():
            raise ExplainerError(f"--out {out} is {what}; write the merged dataset to another file")
    if out.is_dir():
        raise ExplainerError(f"--out {out} is a directory; pass a file name")
    if not out.parent.is_dir():
        raise ExplainerError(f"--out {out}: the directory {out.parent} does not exist; create it first")
    detect_format(args.dataset)  # a dataset that does not exist is named before anything else
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CorrectionsWarning)
        decisions = read_decisions(corrections)
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    if not decisions:
        raise ExplainerError(f"{corrections} holds no decisions; review some examples first")
    label_map = read_label_map(args.label_map) if args.label_map else None
    # The cache beside the corrections file knows the labels the tags must be in, and the build's scheme.
    manifest = manifest_beside(corrections)
    labels = manifest.get("labels") if manifest else None
    built = source_of_manifest(manifest) if manifest else None
    tag_scheme = args.tag_scheme or (built.tag_scheme if built else AUTO)
    strip_prefix = args.strip_prefix if args.strip_prefix is not None else (built.strip_prefix if built else None)
    data, report = merge_bytes(
        args.dataset,
        decisions,
        output_format=args.format,
        split=args.split,
        tokens_column=args.tokens_column,
        tags_column=args.tags_column,
        label_map=label_map,
        tag_scheme=tag_scheme,
        strip_prefix=strip_prefix,
        labels=labels if isinstance(labels, list) else None,
        corrections_display=str(corrections),
    )
    write_atomically(out, data)
    print("\n".join([f"wrote {out}", *report.lines()]), file=sys.stderr)
    return 0
