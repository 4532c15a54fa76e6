"""Build a cache with 13 entity types (27 labels) from a model built from a config, for screenshots.

    python docs/many_types.py /tmp/many-types        # writes /tmp/many-types/cache/thirteen-types
    explainer serve /tmp/many-types/cache &
    python docs/screenshots.py http://127.0.0.1:8050 --many-types

The model is a small BERT with random weights (no download): its predictions are noise, which is what
a screenshot of colours and labels needs (every type predicted somewhere). The sentences are seeded
and use CrossNER-like type names, long ones included (``politician`` and ``politicalparty`` share a
prefix), so the views are seen with the label sets of domain corpora.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

TYPES = {
    "politician": [["Angela", "Merkel"], ["Barack", "Obama"]],
    "politicalparty": [["Labour", "Party"], ["Green", "Party"]],
    "person": [["John", "Smith"], ["Mary"]],
    "organisation": [["United", "Nations"], ["Acme"]],
    "location": [["Paris"], ["New", "York"]],
    "country": [["France"], ["Germany"]],
    "event": [["World", "Cup"], ["Live", "Aid"]],
    "election": [["general", "election"], ["midterms"]],
    "award": [["Grammy", "Award"], ["Nobel", "Prize"]],
    "album": [["Abbey", "Road"], ["Thriller"]],
    "song": [["Yesterday"], ["Imagine"]],
    "band": [["The", "Beatles"], ["Queen"]],
    "musicalartist": [["Madonna"], ["Prince"]],
}
FILLERS = ["the", "said", "visited", "in", "on", "last", "week", "where", "won", "with", "after", "and", "."]


def sentences(n: int = 240, *, seed: int = 0) -> list[list[tuple[str, str]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        sentence: list[tuple[str, str]] = []
        for _ in range(rng.randint(2, 4)):
            sentence += [(word, "O") for word in rng.sample(FILLERS, rng.randint(1, 3))]
            kind = rng.choice(sorted(TYPES))
            words = rng.choice(TYPES[kind])
            sentence += [(word, ("B-" if i == 0 else "I-") + kind) for i, word in enumerate(words)]
        out.append(sentence + [(".", "O")])
    return out


def make_model(directory: Path, labels: list[str], words: list[str]) -> Path:
    import torch
    from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted({word.lower() for word in words})
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(directory)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    BertForTokenClassification(config).save_pretrained(directory)
    return directory


def main(root: str) -> int:
    from explainer.pipeline.pipeline import BuildOptions, build_cache, summary_line

    base = Path(root).absolute()
    data = sentences()
    labels = ["O"] + [f"{prefix}-{kind}" for kind in sorted(TYPES) for prefix in ("B", "I")]
    dataset = base / "data" / "thirteen-types.conll"
    dataset.parent.mkdir(parents=True, exist_ok=True)
    dataset.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in s) for s in data) + "\n", encoding="utf-8")
    model = make_model(base / "model", labels, [word for s in data for word, _ in s])
    cache = base / "cache" / "thirteen-types"
    manifest = build_cache(
        BuildOptions(model=str(model), dataset=str(dataset), out=str(cache), device="cpu", projection="pca")
    )
    assert manifest is not None
    print(summary_line(manifest, cache))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "many-types"))
