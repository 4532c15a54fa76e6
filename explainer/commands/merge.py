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
        description="Apply corrections (the review database beside a cache, a database URL, or a .corrections.jsonl "
        "export) to a dataset by example hash; the settled (latest) decision of each example is applied. "
        "Examples without a correction are copied byte-for-byte when the output has the input's form.",
    )
    parser.add_argument("--dataset", required=True, metavar="SPEC", help="the dataset, as given to explainer build")
    parser.add_argument(
        "--corrections",
        required=True,
        metavar="FILE|URL",
        help="the review's decisions: a corrections file (JSONL), the <cache>.review.sqlite beside the cache, or a "
        "database URL (EXPLAINER_REVIEW_DB)",
    )
    parser.add_argument(
        "--cache", default=None, metavar="NAME", help="with a database holding several caches: whose decisions"
    )
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
    from explainer.review.store import STORE_SUFFIX, display_url, is_database_url, store_of_url

    out, corrections = Path(args.out).expanduser(), Path(args.corrections).expanduser()
    url = args.corrections if is_database_url(args.corrections) else None
    if url is None and corrections.name.endswith(STORE_SUFFIX) and corrections.is_file():
        url = f"sqlite:///{corrections.absolute()}"  # the SQLite database beside the cache
    if url is None and not corrections.is_file():
        raise ExplainerError(
            f"{corrections} does not exist or is not a file; pass the <cache>.review.sqlite beside the cache, "
            "a database URL, or a .corrections.jsonl file the Review tab exported"
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
    if url is not None:
        store = store_of_url(url, args.cache)
        decisions, display = store.history(), f"{display_url(url)} (cache {store.cache})"
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CorrectionsWarning)
            decisions, display = read_decisions(corrections), str(corrections)
        for warning in caught:
            print(f"warning: {warning.message}", file=sys.stderr)
    if not decisions:
        raise ExplainerError(f"{display} holds no decisions; review some examples first")
    label_map = read_label_map(args.label_map) if args.label_map else None
    # The cache beside the corrections file knows the labels the tags must be in, and the build's scheme.
    manifest = manifest_beside(corrections) if corrections.is_file() else None
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
        corrections_display=display,
    )
    write_atomically(out, data)
    print("\n".join([f"wrote {out}", *report.lines()]), file=sys.stderr)
    return 0
