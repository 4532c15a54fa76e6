"""``explainer explain --model M --text "..."``: token attributions (Layer Integrated Gradients)."""

from __future__ import annotations

import argparse
import json

from explainer.errors import ExplainerError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "explain", help="attributions of every input subword to each subword's prediction (Layer Integrated Gradients)"
    )
    parser.add_argument("--model", required=True, help="a model directory saved with save_pretrained, or a hub id")
    parser.add_argument("--revision", default=None, help="hub branch, tag or commit")
    parser.add_argument("--text", required=True, help="the text to explain")
    parser.add_argument(
        "--ignored-labels",
        default="",
        metavar="L1,L2",
        help="do not explain subwords predicted with these labels, e.g. O",
    )
    parser.add_argument(
        "--ignored-indexes",
        default="",
        metavar="I1,I2",
        help="do not explain these subword positions (special tokens count: [CLS] is 0)",
    )
    parser.add_argument(
        "--class",
        dest="target_label",
        default=None,
        metavar="LABEL",
        help="explain this class at every target instead of the predicted one",
    )
    parser.add_argument(
        "--contrast",
        dest="contrast_label",
        default=None,
        metavar="LABEL",
        help="explain the class's probability minus this class's (why ORG and not LOC)",
    )
    parser.add_argument("--n-steps", type=int, default=50, help="integration points (default: 50)")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.05,
        help="refine targets whose completeness error exceeds this fraction of their score (default: 0.05; 0: off)",
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="the most integration points a refined target gets (default: 128, or 4 x --n-steps if more)",
    )
    parser.add_argument("--method", default="gausslegendre", help="captum quadrature rule (default: gausslegendre)")
    parser.add_argument(
        "--internal-batch-size", type=int, default=None, help="at most this many interpolation points per forward pass"
    )
    parser.add_argument("--words", action="store_true", help="merge subwords into words in the printed view")
    parser.add_argument("--json", action="store_true", help="print JSON (raw and normalised attributions, deltas)")
    parser.set_defaults(func=run)


def split_list(value: str) -> list[str]:
    """'O, B-PER' -> ['O', 'B-PER'] (blank items dropped)."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def parse_indexes(value: str) -> list[int]:
    """'0,1' -> [0, 1]; raises ExplainerError on anything that is not a whole number."""
    indexes = []
    for item in split_list(value):
        try:
            indexes.append(int(item))
        except ValueError:
            raise ExplainerError(f"--ignored-indexes: {item!r} is not a subword position (expected e.g. 0,1)") from None
    return indexes


def run(args: argparse.Namespace) -> int:
    from explainer.inference.attributions import explain
    from explainer.inference.model import live_model

    live = live_model(args.model, revision=args.revision)
    result = explain(
        live,
        text=args.text,
        ignored_labels=split_list(args.ignored_labels),
        ignored_indexes=parse_indexes(args.ignored_indexes),
        target_label=args.target_label,
        contrast_label=args.contrast_label,
        n_steps=args.n_steps,
        method=args.method,
        internal_batch_size=args.internal_batch_size,
        tolerance=args.tolerance or None,
        max_steps=args.max_steps,
    )
    print(json.dumps(result.to_dict(), indent=1) if args.json else format_attributions(result, words=args.words))
    return 0


def format_attributions(result, *, words: bool = False) -> str:
    """A readable view: per target, its prediction, completeness error and every input's attribution."""
    columns, matrix = result.word_level() if words else (result.tokens, result.normalised)
    lines = [
        f"{len(result.targets)} targets, {result.n_steps} {result.method} points; attributions normalised "
        "(divided by their L2 norm); delta = sum of raw attributions - (score(text) - score(baseline))"
    ]
    if result.tolerance is not None:
        refined, missed = int((result.steps > result.n_steps).sum()), int(result.missed.sum())
        lines.append(
            f"tolerance {result.tolerance:g} of each score: {refined} targets refined "
            f"(up to {result.steps.max() if len(result.steps) else result.n_steps} points), {missed} still above it"
        )
    if not result.targets:
        lines.append("nothing to explain: every subword is ignored (check --ignored-labels / --ignored-indexes)")
    for row, target in enumerate(result.targets):
        explained = target.label + (f" - {target.contrast}" if target.contrast else "")
        lines.append(
            f"\n[{target.position}] {target.token}  predicted {target.predicted} ({target.probability:.3f}), "
            f"explaining {explained}, delta {result.delta[row]:+.2e}, {result.steps[row]} points"
            + (" -- ABOVE TOLERANCE" if result.missed[row] else "")
        )
        lines.append("  " + "  ".join(f"{name} {value:+.3f}" for name, value in zip(columns, matrix[row])))
    return "\n".join(lines)
