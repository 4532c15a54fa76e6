"""Tokenise examples with word alignment and cut long ones into overlapping windows.

Every example becomes one *stitched* sequence of subwords: the tokenizer's special tokens around
the subwords of its words, exactly what the model sees for a short example. The first subword of
each word carries the word's gold label id, every other subword is IGN (-100).

An example longer than the model's maximum is split into windows of at most ``max_length``
subwords (special tokens included) that overlap by at least ``stride`` subwords; every subword's
outputs are then taken from the window where it is most central (farthest from a window edge), so
nothing is truncated. Special tokens come from the first window (prefix) and the last (suffix).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from explainer.cache.schema import IGN
from explainer.data.example import Example
from explainer.errors import ExplainerError


@dataclass
class ModelInput:
    """One sequence for the model: a whole example, or one window of a long one.

    ``source`` are the positions in ``input_ids`` whose outputs are kept; ``target`` the global
    subword rows (rows of subwords.parquet and the arrays) they go to.
    """

    input_ids: np.ndarray
    example_id: int
    window: int
    source: np.ndarray
    target: np.ndarray


@dataclass
class Alignment:
    """The stitched subword sequences of all examples, flattened, and the model inputs behind them.

    Per subword (``n_subwords`` rows): ``input_ids``, ``word_index`` (-1 on special tokens),
    ``label_id`` (gold id on a word's first subword, IGN elsewhere), ``window``.
    Per word: ``word_rows`` (global row of its first subword), ``word_n_subwords``.
    Per example: ``subword_offsets`` and ``word_offsets`` (n_examples + 1 boundaries), ``windowed``.
    """

    input_ids: np.ndarray
    word_index: np.ndarray
    label_id: np.ndarray
    window: np.ndarray
    subword_offsets: np.ndarray
    word_offsets: np.ndarray
    word_rows: np.ndarray
    word_n_subwords: np.ndarray
    windowed: np.ndarray
    inputs: list[ModelInput] = field(default_factory=list)
    words_replaced_by_unk: int = 0

    @property
    def n_subwords(self) -> int:
        return int(self.subword_offsets[-1])


def special_tokens_around(tokenizer) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after a sequence (e.g. ``[CLS]`` and ``[SEP]``).

    Found by encoding a one-word input with special tokens and reading which positions carry no
    word (transformers 5 has no ``build_inputs_with_special_tokens``).
    """
    encoding = tokenizer([["a"]], is_split_into_words=True, add_special_tokens=True)
    ids, word_ids = encoding["input_ids"][0], encoding.word_ids(0)
    word_positions = [position for position, word in enumerate(word_ids) if word is not None]
    if not word_positions:
        raise ExplainerError(
            f"tokenizer {type(tokenizer).__name__} turns the word 'a' into no token; "
            "it cannot be aligned with dataset words"
        )
    return list(ids[: word_positions[0]]), list(ids[word_positions[-1] + 1 :])


def plan_windows(n_body: int, *, max_body: int, stride: int) -> np.ndarray:
    """Start positions of windows of ``max_body`` subwords covering ``n_body`` with ``stride`` overlap.

    The last window is aligned with the end, so every window is full and overlaps are >= stride.
    """
    if n_body <= max_body:
        return np.zeros(1, dtype=np.int64)
    step = max_body - stride
    starts = list(range(0, n_body - max_body, step)) + [n_body - max_body]
    return np.asarray(starts, dtype=np.int64)


def most_central_window(n_body: int, starts: np.ndarray, *, max_body: int) -> np.ndarray:
    """For each body position, the window in which it is farthest from an edge (first on ties)."""
    positions = np.arange(n_body)[None, :]
    offset = positions - starts[:, None]
    centrality = np.minimum(offset, max_body - 1 - offset)
    centrality[(offset < 0) | (offset >= max_body)] = -1
    return centrality.argmax(axis=0)


def align_examples(
    examples: list[Example], tokenizer, *, label_ids: dict[str, int], max_length: int, stride: int
) -> Alignment:
    """Tokenise every example and plan the model inputs.

    Parameters
    ----------
    examples : list of Example
        Examples whose tags are all keys of ``label_ids``.
    tokenizer : transformers fast tokenizer
    label_ids : dict of str to int
        Model label name -> id.
    max_length : int
        Most subwords per model input, special tokens included.
    stride : int
        Least overlap, in subwords, between consecutive windows of a long example.

    Returns
    -------
    Alignment

    Notes
    -----
    A word the tokenizer turns into no subword at all (e.g. a lone zero-width space) is replaced
    by the tokenizer's unknown token, so that every word gets a prediction.
    """
    prefix, suffix = special_tokens_around(tokenizer)
    max_body = max_length - len(prefix) - len(suffix)
    bodies, replaced = _tokenise_bodies(examples, tokenizer)
    builder = _Builder(
        prefix=np.asarray(prefix, dtype=np.int64),
        suffix=np.asarray(suffix, dtype=np.int64),
        max_body=max_body,
        stride=stride,
    )
    for example_id, (example, (ids, word_ids)) in enumerate(zip(examples, bodies)):
        gold = np.fromiter((label_ids[tag] for tag in example.tags), dtype=np.int16, count=len(example.tags))
        builder.add(example_id, ids, word_ids, gold)
    return builder.finish(replaced)


def _tokenise_bodies(examples: list[Example], tokenizer) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """(subword ids, word index per subword) of each example, special tokens excluded."""
    bodies = _encode(tokenizer, [list(example.words) for example in examples])
    replaced = 0
    for example_id, (example, (_ids, word_ids)) in enumerate(zip(examples, bodies)):
        counts = np.bincount(word_ids, minlength=len(example.words))
        if counts.all():
            continue
        if tokenizer.unk_token is None:
            word = example.words[int(np.flatnonzero(counts == 0)[0])]
            raise ExplainerError(
                f"{example.source}: the word {word!r} becomes no subword with this tokenizer and it "
                "has no unknown token to stand for it; remove or replace that word in the dataset"
            )
        words = [word if count else tokenizer.unk_token for word, count in zip(example.words, counts)]
        replaced += int((counts == 0).sum())
        bodies[example_id] = _encode(tokenizer, [words])[0]
    return bodies, replaced


def _encode(tokenizer, word_lists: list[list[str]]) -> list[tuple[np.ndarray, np.ndarray]]:
    encoding = tokenizer(word_lists, is_split_into_words=True, add_special_tokens=False)
    result = []
    for index in range(len(word_lists)):
        word_ids = encoding.word_ids(index)
        result.append(
            (
                np.asarray(encoding["input_ids"][index], dtype=np.int64),
                np.fromiter((-1 if word is None else word for word in word_ids), dtype=np.int64, count=len(word_ids)),
            )
        )
    return result


class _Builder:
    """Accumulates examples into the flat arrays of an Alignment."""

    def __init__(self, *, prefix: np.ndarray, suffix: np.ndarray, max_body: int, stride: int):
        self.prefix, self.suffix, self.max_body, self.stride = prefix, suffix, max_body, stride
        self.parts: dict[str, list[np.ndarray]] = {
            name: [] for name in ("input_ids", "word_index", "label_id", "window")
        }
        self.word_rows: list[np.ndarray] = []
        self.word_n_subwords: list[np.ndarray] = []
        self.windowed: list[bool] = []
        self.inputs: list[ModelInput] = []
        self.subword_offsets, self.word_offsets = [0], [0]

    def add(self, example_id: int, ids: np.ndarray, word_ids: np.ndarray, gold: np.ndarray) -> None:
        n_prefix, n_suffix, n_body = len(self.prefix), len(self.suffix), len(ids)
        offset = self.subword_offsets[-1]
        specials = np.full(n_prefix, -1, dtype=np.int64), np.full(n_suffix, -1, dtype=np.int64)
        stitched_words = np.concatenate([specials[0], word_ids, specials[1]])
        # A word's subwords are contiguous; the first is where the word index changes.
        first = np.flatnonzero((word_ids >= 0) & (word_ids != np.r_[-1, word_ids[:-1]]))
        labels = np.full(len(stitched_words), IGN, dtype=np.int16)
        labels[n_prefix + first] = gold[word_ids[first]]
        windows = self._plan(example_id, ids, offset)
        self.parts["input_ids"].append(np.concatenate([self.prefix, ids, self.suffix]))
        self.parts["word_index"].append(stitched_words)
        self.parts["label_id"].append(labels)
        self.parts["window"].append(windows)
        self.word_rows.append(offset + n_prefix + first)
        self.word_n_subwords.append(np.bincount(word_ids[word_ids >= 0], minlength=len(gold)))
        self.windowed.append(n_body > self.max_body)
        self.subword_offsets.append(offset + n_prefix + n_body + n_suffix)
        self.word_offsets.append(self.word_offsets[-1] + len(gold))

    def _plan(self, example_id: int, ids: np.ndarray, offset: int) -> np.ndarray:
        """Add the example's model inputs; return the window of each stitched position."""
        n_prefix, n_suffix, n_body = len(self.prefix), len(self.suffix), len(ids)
        n_total = n_prefix + n_body + n_suffix
        starts = plan_windows(n_body, max_body=self.max_body, stride=self.stride)
        if len(starts) == 1:
            positions = np.arange(n_total)
            self.inputs.append(
                ModelInput(
                    np.concatenate([self.prefix, ids, self.suffix]), example_id, 0, positions, offset + positions
                )
            )
            return np.zeros(n_total, dtype=np.int16)
        chosen = most_central_window(n_body, starts, max_body=self.max_body)
        last = len(starts) - 1
        for window, start in enumerate(starts):
            body = np.flatnonzero(chosen == window)
            source, target = n_prefix + body - start, n_prefix + body
            if window == 0:
                source, target = np.r_[np.arange(n_prefix), source], np.r_[np.arange(n_prefix), target]
            if window == last:
                tail = np.arange(n_suffix)
                source = np.r_[source, n_prefix + self.max_body + tail]
                target = np.r_[target, n_prefix + n_body + tail]
            window_ids = np.concatenate([self.prefix, ids[start : start + self.max_body], self.suffix])
            self.inputs.append(ModelInput(window_ids, example_id, window, source, offset + target))
        return np.concatenate(
            [np.zeros(n_prefix, dtype=np.int16), chosen.astype(np.int16), np.full(n_suffix, last, dtype=np.int16)]
        )

    def finish(self, replaced: int) -> Alignment:
        def joined(parts, dtype):
            return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype=dtype)

        return Alignment(
            input_ids=joined(self.parts["input_ids"], np.int32),
            word_index=joined(self.parts["word_index"], np.int32),
            label_id=joined(self.parts["label_id"], np.int16),
            window=joined(self.parts["window"], np.int16),
            subword_offsets=np.asarray(self.subword_offsets, dtype=np.int64),
            word_offsets=np.asarray(self.word_offsets, dtype=np.int64),
            word_rows=joined(self.word_rows, np.int64),
            word_n_subwords=joined(self.word_n_subwords, np.int16),
            windowed=np.asarray(self.windowed, dtype=bool),
            inputs=self.inputs,
            words_replaced_by_unk=replaced,
        )
