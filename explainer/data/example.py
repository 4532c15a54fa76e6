"""The dataset record every loader produces and every later stage consumes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Example:
    """One sentence/record of a dataset.

    ``words`` are the dataset tokens, ``tags`` their gold tag names (IOB2 after
    normalisation), one per word. ``source`` says where the example came from
    (``"train.txt:1203"`` for a file line, ``"train[17]"`` for a hub row) so that errors and the
    UI can point back at it.
    """

    words: tuple[str, ...]
    tags: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.words) != len(self.tags):
            raise ValueError(f"{self.source}: {len(self.words)} words but {len(self.tags)} tags")

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def words_hash(self) -> str:
        """Stable identity of the example's words (corrections are keyed by it)."""
        return hashlib.sha256(json.dumps(list(self.words), ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


@dataclass
class LoadedDataset:
    """What a loader returns.

    ``label_names`` is the dataset's own label list when the source declares one (a ``ClassLabel``
    feature, a JSONL label list); otherwise None and the tags seen in ``examples`` are the labels.
    ``skipped_empty`` counts records that had no words (skipped, not fatal).
    """

    examples: list[Example]
    spec: str
    format: str
    split: str | None = None
    label_names: list[str] | None = None
    skipped_empty: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """sha256 over every example's words and tags, in order: identifies the loaded data."""
        digest = hashlib.sha256()
        for example in self.examples:
            digest.update(json.dumps([example.words, example.tags], ensure_ascii=False).encode("utf-8"))
            digest.update(b"\n")
        return digest.hexdigest()

    def tag_set(self) -> set[str]:
        return {tag for example in self.examples for tag in example.tags}
