"""``explainer build``: precompute a token-classification model's outputs on a dataset into a cache."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "build",
        help="run a model over a dataset and write the cache the app reads",
        description="Run a Hugging Face token-classification model over a dataset and write a versioned cache "
        "directory (manifest.json, Parquet tables, .npy arrays). An existing cache at --out is replaced "
        "atomically when the new one is complete.",
    )
    parser.add_argument("--model", required=True, help="Hugging Face Hub id or local model directory")
    parser.add_argument(
        "--dataset",
        required=True,
        help="CoNLL or JSONL file, Prodigy JSONL, save_to_disk directory, or Hub dataset name",
    )
    parser.add_argument("--out", required=True, help="cache directory to write (replaced if it is a cache)")
    parser.add_argument("--split", help="dataset split (Hub/disk datasets; default test, else validation)")
    parser.add_argument("--tokens-column", help="field/column holding the words (default: tokens or words)")
    parser.add_argument("--tags-column", help="field/column holding the tags (default: ner_tags, tags or labels)")
    parser.add_argument(
        "--label-map", metavar="FILE", help="JSON object mapping dataset tags or entity types to the model's labels"
    )
    parser.add_argument("--revision", help="model revision on the Hub (branch, tag or commit)")
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow the model repository's own Python code to run (off by default)",
    )
    parser.add_argument(
        "--allow-pickle-weights",
        action="store_true",
        help="accept a model whose weights are only pickled (.bin); unpickling can run code",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="sequences per forward pass (default: 32)")
    parser.add_argument(
        "--max-length",
        type=int,
        help="most subwords per forward pass, special tokens included (default: the model's maximum)",
    )
    parser.add_argument(
        "--stride",
        type=int,
        help="least overlap in subwords between windows of a long example (default: half a window)",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where to run the model (default: auto, cuda when available)",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace --out even if it is a non-empty directory that is not a cache"
    )
    analyses = parser.add_argument_group("dataset-level analyses (run after the forward pass)")
    analyses.add_argument(
        "--projection",
        choices=("umap", "pca", "none"),
        default="umap",
        help="2-D projection of word and example embeddings (default: umap, after PCA to 50)",
    )
    analyses.add_argument(
        "--projection-sample",
        type=int,
        default=50_000,
        metavar="N",
        help="fit UMAP on a seeded sample of at most N points and place the rest with its "
        "transform (default: 50000; the README says what it costs)",
    )
    analyses.add_argument(
        "--label-quality",
        default="self_confidence",
        metavar="METHOD",
        help="cleanlab label-quality method: self_confidence, normalized_margin, "
        "confidence_weighted_entropy, or none (default: self_confidence)",
    )
    analyses.add_argument(
        "--activations-sample",
        type=int,
        default=200,
        metavar="N",
        help="examples whose feed-forward activations are stored for the Activations tab (default: 200; 0 = none)",
    )
    analyses.add_argument("--seed", type=int, default=0, help="seed of every sampled analysis (default: 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from explainer.pipeline.pipeline import BuildOptions, build_cache, summary_line

    options = BuildOptions(
        model=args.model,
        dataset=args.dataset,
        out=args.out,
        split=args.split,
        tokens_column=args.tokens_column,
        tags_column=args.tags_column,
        label_map=args.label_map,
        revision=args.revision,
        trust_remote_code=args.trust_remote_code,
        allow_pickle_weights=args.allow_pickle_weights,
        batch_size=args.batch_size,
        max_length=args.max_length,
        stride=args.stride,
        device=args.device,
        force=args.force,
        projection=args.projection,
        projection_sample=args.projection_sample,
        label_quality=args.label_quality,
        activations_sample=args.activations_sample,
        seed=args.seed,
    )
    manifest = build_cache(options)
    if manifest is None:  # a rank other than 0 of a sharded build (torchrun): rank 0 writes the cache
        from explainer.pipeline.distributed import rank_note

        print(rank_note(), flush=True)
        return 0
    print(summary_line(manifest, args.out), flush=True)
    return 0
