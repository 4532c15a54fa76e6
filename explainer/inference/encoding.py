"""One text as the model sees it: subwords, their words, and the words' characters.

Free text is split into words by the model's own tokenizer (its pre-tokenizer: whitespace and
punctuation for BERT), so the subwords are exactly those the model gets on that text. A dataset
example comes as words already and is encoded with ``is_split_into_words``.
"""

from __future__ import annotations

from dataclasses import dataclass

from explainer.errors import ExplainerError


@dataclass(frozen=True)
class EncodedText:
    """Subwords of one text, special tokens included.

    ``word_ids[i]`` is the word of subword ``i`` (None for a special token); ``words[w]`` is the
    text of word ``w``.
    """

    input_ids: list[int]
    tokens: list[str]
    word_ids: list[int | None]
    words: list[str]

    def __len__(self) -> int:
        return len(self.input_ids)

    def first_subwords(self) -> list[int]:
        """Position of each word's first subword, in word order (the subword that carries its label)."""
        first: dict[int, int] = {}
        for position, word in enumerate(self.word_ids):
            if word is not None and word not in first:
                first[word] = position
        return [first[word] for word in sorted(first)]


def encode(
    tokenizer, *, text: str | None = None, words: list[str] | None = None, max_length: int, where: str = "the text"
) -> EncodedText:
    """Encode free ``text`` or pre-split ``words`` (exactly one of them).

    Parameters
    ----------
    tokenizer : a fast (Rust) Hugging Face tokenizer
    text : str, optional
    words : list of str, optional
    max_length : int
        The most subwords (special tokens included) one forward pass may take.
    where : str
        How error messages name this text, e.g. ``"line 3"``.

    Raises
    ------
    ExplainerError
        If the text has no word or more subwords than ``max_length``.
    """
    if words is not None and text is None:
        encoding = tokenizer([str(word) for word in words], is_split_into_words=True, add_special_tokens=True)
        word_texts = [str(word) for word in words]
    elif text is not None and words is None:
        encoding = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
        word_texts = _word_texts(text, encoding)
    else:
        raise ValueError("pass exactly one of text= and words=")
    input_ids = list(encoding["input_ids"])
    # Number the words 0..n-1 in order (a pre-tokenizer may leave gaps, e.g. for dropped characters).
    rank = {word: index for index, word in enumerate(sorted({w for w in encoding.word_ids() if w is not None}))}
    word_ids = [None if word is None else rank[word] for word in encoding.word_ids()]
    if all(word is None for word in word_ids):
        raise ExplainerError(f"{where}: the tokenizer found no word in it; write some text")
    if len(input_ids) > max_length:
        raise ExplainerError(
            f"{where} has {len(input_ids)} subwords, more than the {max_length} the model takes in "
            "one pass; shorten it or split it over several lines"
        )
    tokens = tokenizer.convert_ids_to_tokens(input_ids)
    return EncodedText(input_ids=input_ids, tokens=list(tokens), word_ids=word_ids, words=word_texts)


def _word_texts(text: str, encoding) -> list[str]:
    """The characters of each word: from its first subword's start to its last subword's end."""
    spans: dict[int, list[int]] = {}
    for word, (start, end) in zip(encoding.word_ids(), encoding["offset_mapping"]):
        if word is None:
            continue
        span = spans.setdefault(word, [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    return [text[spans[word][0] : spans[word][1]] for word in sorted(spans)]
