"""``explainer info CACHE``: what a cache holds and its headline results."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("info", help="print a cache's manifest summary and headline metrics")
    parser.add_argument("cache", help="a cache directory written by `explainer build`")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from explainer.cache.reader import open_cache

    cache = open_cache(args.cache)
    print(format_info(cache.manifest, cache.metrics, path=cache.path))
    return 0


def format_info(manifest: dict, metrics: dict, *, path) -> str:
    """The text ``explainer info`` prints: summary lines, then the seqeval per-type table."""
    model, dataset = manifest["model"], manifest["dataset"]
    counts, headline = manifest["counts"], manifest["headline"]
    identity = (
        f"revision {model['revision']}"
        if model.get("revision")
        else f"weights sha256 {model['files_sha256'][:12]}"
        if model.get("files_sha256")
        else "no revision"
    )
    lines = [
        ("cache", str(path)),
        ("model", f"{model['id']} ({model.get('model_type')}, {identity}, max length {model.get('max_length')})"),
        (
            "dataset",
            f"{dataset['spec']} ({dataset['format']}, split {dataset.get('split') or '-'}, "
            f"fingerprint {dataset['fingerprint'][:12]})",
        ),
        ("labels", f"{len(manifest['labels'])}: {' '.join(manifest['labels'])}"),
        ("counts", ", ".join(f"{value} {key.replace('_', ' ')}" for key, value in counts.items())),
        (
            "entity",
            f"F1 {headline['entity_f1']:.4f}  precision {headline['entity_precision']:.4f}  "
            f"recall {headline['entity_recall']:.4f}",
        ),
        (
            "words",
            f"accuracy {headline['word_accuracy']:.4f}, {headline['word_errors']} word errors, "
            f"{headline['span_errors']} span errors",
        ),
        (
            "built",
            f"{manifest['created']} by explainer {manifest['tool_version']} "
            f"(schema {manifest['schema_version']}), {manifest['timings'].get('total', 0):.1f} s "
            f"on {manifest['settings'].get('device')}",
        ),
        ("rebuild", manifest["command"]),
    ]
    width = max(len(name) for name, _ in lines)
    text = [f"{name:<{width}}  {value}" for name, value in lines]
    return "\n".join(text + ["", seqeval_table(metrics.get("seqeval", {}))])


def seqeval_table(report: dict) -> str:
    """The seqeval report as an aligned text table (types, then the averages)."""
    rows = [name for name in report if not name.endswith(" avg")] + [name for name in report if name.endswith(" avg")]
    width = max([len(name) for name in rows] + [len("type")])
    header = f"{'type':<{width}}  {'precision':>9}  {'recall':>9}  {'f1':>9}  {'support':>8}"
    lines = [header, "-" * len(header)]
    for name in rows:
        scores = report[name]
        lines.append(
            f"{name:<{width}}  {scores['precision']:>9.4f}  {scores['recall']:>9.4f}  {scores['f1']:>9.4f}  "
            f"{scores['support']:>8d}"
        )
    return "\n".join(lines)
