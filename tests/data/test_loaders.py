"""Dataset loaders: CoNLL, JSONL, Prodigy-style JSONL, save_to_disk directories and the Hub (mocked)."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from helpers import write_conll, write_jsonl

from explainer.data.loaders import detect_format, load_dataset
from explainer.errors import ExplainerError

PER_LOC = [
    [("John", "B-PER"), ("Smith", "I-PER"), ("visited", "O"), ("Paris", "B-LOC"), (".", "O")],
    [("Acme", "B-ORG"), ("Corp", "I-ORG")],
]


def write_text(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def as_pairs(dataset):
    return [list(zip(example.words, example.tags)) for example in dataset.examples]


def entity_counts(dataset):
    """Spans per type: loaded tags are IOB2, so every span opens with exactly one B- tag."""
    return Counter(tag[2:] for example in dataset.examples for tag in example.tags if tag.startswith("B-"))


def is_iob2(tags):
    return all(
        not tag.startswith("I-") or (index > 0 and tags[index - 1][2:] == tag[2:] and tags[index - 1] != "O")
        for index, tag in enumerate(tags)
    )


# --- detect_format ----------------------------------------------------------------------------------------


def test_detect_format_of_files(tmp_path):
    assert detect_format(str(write_conll(tmp_path / "a.txt", PER_LOC))) == "conll"
    assert detect_format(str(write_conll(tmp_path / "a.tsv", PER_LOC, separator="\t"))) == "conll"
    assert detect_format(str(write_jsonl(tmp_path / "b.jsonl", [{"tokens": ["a"], "tags": ["O"]}]))) == "jsonl"
    # Content decides when the name does not.
    assert detect_format(str(write_jsonl(tmp_path / "b.data", [{"words": ["a"], "ner_tags": [0]}]))) == "jsonl"
    assert detect_format(str(write_jsonl(tmp_path / "c.jsonl", [{"text": "a b", "spans": []}]))) == "prodigy"
    prodigy_tokens = {"text": "a b", "tokens": [{"text": "a", "start": 0, "end": 1, "id": 0}]}
    assert detect_format(str(write_jsonl(tmp_path / "d.jsonl", [prodigy_tokens]))) == "prodigy"
    # A broken first line of a .jsonl file is the JSONL loader's to report.
    assert detect_format(str(write_text(tmp_path / "e.jsonl", "{oops\n"))) == "jsonl"
    # A CoNLL file whose first word is "{" stays CoNLL.
    assert detect_format(str(write_text(tmp_path / "f.txt", "{ O\nx O\n"))) == "conll"


def test_detect_format_of_names_and_missing_paths(tmp_path):
    assert detect_format("conll2003") == "hub"
    assert detect_format("eriktks/conll2003") == "hub"
    for missing in (tmp_path / "missing.txt", "data/train.conll", "a/b/c", "./nothing"):
        with pytest.raises(ExplainerError, match="does not exist"):
            detect_format(str(missing))
    with pytest.raises(ExplainerError, match="not one written by datasets.save_to_disk"):
        detect_format(str(tmp_path))


# --- CoNLL ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("separator", [" ", "\t", "  \t "])
def test_conll_two_columns_any_separator(tmp_path, separator):
    dataset = load_dataset(str(write_conll(tmp_path / "train.txt", PER_LOC, separator=separator)))
    assert as_pairs(dataset) == PER_LOC
    assert [e.source for e in dataset.examples] == ["train.txt:1", "train.txt:7"]
    assert (dataset.format, dataset.split, dataset.label_names, dataset.skipped_empty) == ("conll", None, None, 0)


def test_conll_2003_layout_with_docstart(tmp_path):
    text = (
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"
        "-DOCSTART- -X- -X- O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER"
    )  # no final newline
    dataset = load_dataset(str(write_text(tmp_path / "conll.txt", text)), split="train")
    assert as_pairs(dataset) == [[("EU", "B-ORG"), ("rejects", "O")], [("Peter", "B-PER"), ("Blackburn", "I-PER")]]
    assert [e.source for e in dataset.examples] == ["conll.txt:3", "conll.txt:8"]
    assert dataset.extra["documents"] == 2 and dataset.split == "train"


def test_conll_docstart_without_blank_line_keeps_the_next_sentence(tmp_path):
    dataset = load_dataset(str(write_text(tmp_path / "a.txt", "-DOCSTART- O\nEU B-ORG\n\nx O\n-DOCSTART- O\ny O\n")))
    assert as_pairs(dataset) == [[("EU", "B-ORG")], [("x", "O")], [("y", "O")]]


def test_conll_whitespace_only_lines_separate_sentences(tmp_path):
    text = "a\tO\nb\tB-LOC\n\t\nc\tO\n   \nd\tO\n \t \r\ne\tO\n\n\n\nf\tO\n"
    dataset = load_dataset(str(write_text(tmp_path / "w.txt", text)))
    assert [e.words for e in dataset.examples] == [("a", "b"), ("c",), ("d",), ("e",), ("f",)]
    assert dataset.skipped_empty == 0  # runs of blank lines are not empty examples


def test_conll_crlf_and_bom(tmp_path):
    path = write_text(tmp_path / "win.txt", "\ufeffJohn B-PER\r\nSmith I-PER\r\n\r\nx O\r\n")
    dataset = load_dataset(str(path))
    assert as_pairs(dataset) == [[("John", "B-PER"), ("Smith", "I-PER")], [("x", "O")]]


def test_conll_iob1_becomes_iob2(tmp_path):
    path = write_conll(
        tmp_path / "iob1.txt",
        [[("John", "I-PER"), ("Smith", "I-PER"), ("Mary", "B-PER"), ("in", "O"), ("Paris", "I-LOC")]],
    )
    assert load_dataset(str(path)).examples[0].tags == ("B-PER", "I-PER", "B-PER", "O", "B-LOC")


def test_conll_zero_width_characters_are_stripped_and_empty_words_dropped(tmp_path):
    sentences = [
        [("wat\u200bched", "O"), ("\u200b", "B-PER"), ("Du\u2060bbz\ufeff", "I-PER"), ("x\u200c\u200d", "O")],
        [("\ufeff", "O"), ("\u200b\u200b", "O")],
        [("ok", "O")],
    ]
    dataset = load_dataset(str(write_conll(tmp_path / "zw.txt", sentences)))
    # The dropped B-PER word leaves its I-PER, which now opens the entity.
    assert as_pairs(dataset) == [[("watched", "O"), ("Dubbz", "B-PER"), ("x", "O")], [("ok", "O")]]
    assert dataset.extra["dropped_words"] == 3
    assert dataset.skipped_empty == 1
    assert [e.source for e in dataset.examples] == ["zw.txt:1", "zw.txt:9"]


def test_conll_unicode_words_are_kept(tmp_path):
    sentences = [[("Zürich", "B-LOC"), ("東京", "B-LOC"), ("naïve", "O"), ("😀", "O")]]
    dataset = load_dataset(str(write_conll(tmp_path / "u.txt", sentences, separator="\t")))
    assert as_pairs(dataset) == sentences


@pytest.mark.parametrize(
    "text, message",
    [
        ("John B-PER\nSmith\n", r"bad\.txt:2: only one column \('Smith'\).*word and its tag"),
        ("John B-PER\n\nParis X-PER\n", r"bad\.txt:3: unknown tag 'X-PER'; expected O, B-<type> or I-<type>"),
        ("John PER\n", r"bad\.txt:1: unknown tag 'PER'"),
        ("John B-\n", r"bad\.txt:1: unknown tag 'B-'"),
        ("", r"bad\.txt: no examples to load"),
        ("\n  \n\t\n", r"bad\.txt: no examples to load"),
        ("-DOCSTART- -X- -X- O\n\n", r"bad\.txt: no examples to load"),
        ("\u200b O\n", r"bad\.txt: no examples to load \(all 1 examples are empty\)"),
    ],
)
def test_conll_bad_input(tmp_path, text, message):
    path = write_text(tmp_path / "bad.txt", text)
    with pytest.raises(ExplainerError, match=message) as caught:
        load_dataset(str(path))
    assert "\n" not in str(caught.value)


def test_non_utf8_file_names_line_and_byte(tmp_path):
    path = write_text(tmp_path / "latin.txt", "Paris B-LOC\n\nZürich B-LOC\n", encoding="latin-1")
    with pytest.raises(ExplainerError, match=r"latin\.txt:3: not UTF-8 \(byte 0xfc .*re-encode the file as UTF-8"):
        load_dataset(str(path))
    jsonl = write_text(tmp_path / "latin.jsonl", '{"tokens": ["Zürich"], "tags": ["B-LOC"]}\n', encoding="latin-1")
    with pytest.raises(ExplainerError, match=r"latin\.jsonl:1: not UTF-8"):
        load_dataset(str(jsonl))


def test_missing_path(tmp_path):
    with pytest.raises(ExplainerError, match=r"missing\.txt does not exist"):
        load_dataset(str(tmp_path / "missing.txt"))


# --- CoNLL-2003 and WNUT-17 from /work/shared/data -------------------------------------------------------

# From each SOURCE.md: sentences, tokens and entity spans per type.
SHARED_COUNTS = {
    ("conll2003", "train"): (14041, 203621, {"LOC": 7140, "MISC": 3438, "ORG": 6321, "PER": 6600}),
    ("conll2003", "validation"): (3250, 51362, {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}),
    ("conll2003", "test"): (3453, 46435, {"LOC": 1668, "MISC": 702, "ORG": 1661, "PER": 1617}),
    ("wnut17", "train"): (
        3394,
        62730,
        {"corporation": 221, "creative-work": 140, "group": 264, "location": 548, "person": 660, "product": 142},
    ),
    ("wnut17", "validation"): (
        1009,
        15733,
        {"corporation": 34, "creative-work": 105, "group": 39, "location": 74, "person": 470, "product": 114},
    ),
    ("wnut17", "test"): (
        1287,
        23394,
        {"corporation": 66, "creative-work": 142, "group": 165, "location": 150, "person": 429, "product": 127},
    ),
}


@pytest.fixture(scope="module")
def load_shared(shared_data):
    """Load a shared corpus split once per module."""
    loaded = {}

    def load(corpus, split):
        if (corpus, split) not in loaded:
            loaded[corpus, split] = load_dataset(str(shared_data / corpus / f"{split}.txt"), split=split)
        return loaded[corpus, split]

    return load


@pytest.mark.parametrize("corpus, split", list(SHARED_COUNTS))
def test_shared_data_counts(load_shared, corpus, split):
    sentences, tokens, spans = SHARED_COUNTS[corpus, split]
    dataset = load_shared(corpus, split)
    assert len(dataset.examples) == sentences
    assert sum(len(e.words) for e in dataset.examples) == tokens
    assert dict(entity_counts(dataset)) == spans
    assert all(is_iob2(e.tags) for e in dataset.examples)
    assert dataset.skipped_empty == 0 and dataset.extra["dropped_words"] == 0
    assert dataset.extra["documents"] == {"conll2003": {"train": 946, "validation": 216, "test": 231}}.get(
        corpus, {}
    ).get(split, 0)


def test_shared_data_details(load_shared):
    first = load_shared("conll2003", "train").examples[0]
    assert first.words[:2] == ("EU", "rejects") and first.tags[:2] == ("B-ORG", "O")
    assert first.source == "train.txt:3"
    words = {word for e in load_shared("wnut17", "validation").examples for word in e.words}
    # U+FEFF (line 16730) and U+200B (line 15556) are stripped from the words that carry them.
    assert "Dubbz" in words and "watchedwas" in words
    assert not any(ch in word for word in words for ch in "\ufeff\u200b")


def test_conll_2003_train_loads_in_a_small_multiple_of_reading_its_columns(shared_data):
    """A ratio of two timings taken in one run, not a wall-clock bound: a busy machine slows both alike."""
    path = shared_data / "conll2003" / "train.txt"
    started = time.process_time()
    columns = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    reading = time.process_time() - started
    started = time.process_time()
    dataset = load_dataset(str(path))
    loading = time.process_time() - started
    assert len(dataset.examples) == 14_041 and len(columns) > 200_000
    # Loading validates, converts and cleans every tag and word: about 3x the bare split here; a quadratic
    # step or a per-word regex would be far above 40x.
    assert loading < 40 * max(reading, 0.01), (loading, reading)


# --- JSONL ------------------------------------------------------------------------------------------------


def test_jsonl_with_tag_names(tmp_path):
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"tokens": ["John", "Smith"], "tags": ["I-PER", "I-PER"], "id": 7},
            {"tokens": [], "tags": []},
            {"words": ["Paris"], "ner_tags": ["B-LOC"]},
        ],
    )
    path.write_text(path.read_text(encoding="utf-8") + "\n   \n", encoding="utf-8")  # blank lines are ignored
    dataset = load_dataset(str(path))
    assert as_pairs(dataset) == [[("John", "B-PER"), ("Smith", "I-PER")], [("Paris", "B-LOC")]]
    assert [e.source for e in dataset.examples] == ["d.jsonl:1", "d.jsonl:3"]
    assert dataset.skipped_empty == 1 and dataset.format == "jsonl" and dataset.label_names is None


def test_jsonl_ids_with_label_names_argument(tmp_path):
    path = write_jsonl(tmp_path / "ids.jsonl", [{"tokens": ["John", "in", "Paris"], "ner_tags": [1, 0, 3]}])
    dataset = load_dataset(str(path), label_names=["O", "B-PER", "I-PER", "B-LOC"])
    assert dataset.examples[0].tags == ("B-PER", "O", "B-LOC")
    assert dataset.label_names == ["O", "B-PER", "I-PER", "B-LOC"]


def test_jsonl_ids_with_labels_in_the_records(tmp_path):
    labels = ["O", "B-PER", "I-PER"]
    path = write_jsonl(
        tmp_path / "ids.jsonl",
        [
            {"tokens": ["John", "Smith"], "tags": [1, 2], "labels": labels},
            {"tokens": ["x"], "tags": [0]},  # later records may omit the list
            {"tokens": ["Mary"], "tags": [1], "label_names": labels},
        ],
    )
    dataset = load_dataset(str(path))
    assert [e.tags for e in dataset.examples] == [("B-PER", "I-PER"), ("O",), ("B-PER",)]
    assert dataset.label_names == labels
    # The caller's list wins over the records'.
    assert load_dataset(str(path), label_names=["O", "B-ORG", "I-ORG"]).examples[0].tags == ("B-ORG", "I-ORG")


def test_jsonl_custom_columns(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"toks": ["a", "b"], "gold": ["O", "B-X"], "tags": "not these"}])
    dataset = load_dataset(str(path), tokens_column="toks", tags_column="gold")
    assert as_pairs(dataset) == [[("a", "O"), ("b", "B-X")]]
    with pytest.raises(ExplainerError, match=r"c\.jsonl:1: the record has no 'toks2' field \(given by --tokens-col"):
        load_dataset(str(path), tokens_column="toks2", tags_column="gold")


@pytest.mark.parametrize(
    "lines, message, kwargs",
    [
        (
            ['{"tokens": ["a"], "tags": ["O"]}', '{"tokens": ["b"], "tags": ["O"]'],
            r"bad\.jsonl:2: not valid JSON .*one JSON object per line",
            {},
        ),
        (['["a", "O"]'], r"bad\.jsonl:1: expected a JSON object per line, found a list", {}),
        (['{"text": "a", "tags": ["O"]}'], r"bad\.jsonl:1: the record has no words field \('tokens' or 'words'\)", {}),
        (['{"tokens": ["a"]}'], r"bad\.jsonl:1: the record has no tags field.*--tags-column", {}),
        (['{"tokens": ["a", "b"], "tags": ["O"]}'], r"bad\.jsonl:1: 2 words in 'tokens' but 1 tags in 'tags'", {}),
        (['{"tokens": "a b", "tags": ["O", "O"]}'], r"bad\.jsonl:1: 'tokens' must be a list of strings", {}),
        (['{"tokens": ["a"], "tags": ["X-PER"]}'], r"bad\.jsonl:1: in 'tags': unknown tag 'X-PER'; expected O, B-", {}),
        (['{"tokens": ["a"], "tags": [0]}'], r"bad\.jsonl:1: the tags are integer ids but no label list", {}),
        (['{"tokens": ["a"], "tags": [5], "labels": ["O", "B-X"]}'], r"bad\.jsonl:1: tag id 5 is out of range", {}),
        (['{"tokens": ["a"], "tags": [-1]}'], r"bad\.jsonl:1: tag id -1 is out of range", {"label_names": ["O"]}),
        (
            [
                '{"tokens": ["a"], "tags": [0], "labels": ["O"]}',
                '{"tokens": ["a"], "tags": [0], "labels": ["O", "B-X"]}',
            ],
            r"bad\.jsonl:2: 'labels' differs from the label list of earlier records",
            {},
        ),
        (
            ['{"tokens": ["a"], "tags": [0], "labels": ["O", "PER"]}'],
            r"bad\.jsonl:1: 'labels': in the label list: unknown tag 'PER'",
            {},
        ),
        (
            ['{"tokens": ["a"], "tags": [0]}'],
            r"label_names: in the label list: unknown tag 'PER'",
            {"label_names": ["PER"]},
        ),
        (['{"tokens": ["a"], "tags": [["O"]]}'], r"bad\.jsonl:1: in 'tags': unknown tag \['O'\]", {}),
        ([], r"bad\.jsonl: no examples to load", {}),
        (['{"tokens": [], "tags": []}'], r"bad\.jsonl: no examples to load \(all 1 examples are empty\)", {}),
    ],
)
def test_jsonl_bad_input(tmp_path, lines, message, kwargs):
    path = write_text(tmp_path / "bad.jsonl", "\n".join(lines))
    with pytest.raises(ExplainerError, match=message) as caught:
        load_dataset(str(path), **kwargs)
    assert "\n" not in str(caught.value)


# --- Prodigy-style JSONL ------------------------------------------------------------------------------------


def test_prodigy_without_tokens_splits_on_whitespace(tmp_path):
    text = "John  Smith visited\tNew York ."
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {
                "text": text,
                "spans": [{"start": 0, "end": 11, "label": "PER"}, {"start": 20, "end": 28, "label": "LOC"}],
            },
            {"text": "nothing here"},
            {"text": "   "},
        ],
    )
    dataset = load_dataset(str(path))
    assert as_pairs(dataset) == [
        [("John", "B-PER"), ("Smith", "I-PER"), ("visited", "O"), ("New", "B-LOC"), ("York", "I-LOC"), (".", "O")],
        [("nothing", "O"), ("here", "O")],
    ]
    assert dataset.format == "prodigy" and dataset.skipped_empty == 1
    assert [e.source for e in dataset.examples] == ["p.jsonl:1", "p.jsonl:2"]


def test_prodigy_with_tokens_and_rejected_answers(tmp_path):
    text = "Apple's CEO"
    tokens = [
        {"text": "Apple", "start": 0, "end": 5, "id": 0},
        {"text": "'s", "start": 5, "end": 7, "id": 1},
        {"text": "CEO", "start": 8, "end": 11, "id": 2},
    ]
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"text": text, "tokens": tokens, "spans": [{"start": 0, "end": 5, "label": "ORG"}], "answer": "accept"},
            {"text": text, "tokens": tokens, "spans": [{"start": 0, "end": 7, "label": "PER"}], "answer": "reject"},
            {"text": "junk", "spans": [{"start": 0, "end": 99, "label": "X"}], "answer": "ignore"},
        ],
    )
    dataset = load_dataset(str(path))
    assert as_pairs(dataset) == [[("Apple", "B-ORG"), ("'s", "O"), ("CEO", "O")]]
    assert dataset.extra["skipped_answers"] == 2


def test_prodigy_whitespace_tokens_are_dropped(tmp_path):
    # spaCy tokenisation keeps runs of whitespace as tokens; they carry no subword, so they go.
    text = "Hi  Mary"
    tokens = [
        {"text": "Hi", "start": 0, "end": 2},
        {"text": " ", "start": 3, "end": 4},
        {"text": "Mary", "start": 4, "end": 8},
    ]
    dataset = load_dataset(
        str(
            write_jsonl(
                tmp_path / "p.jsonl",
                [{"text": text, "tokens": tokens, "spans": [{"start": 4, "end": 8, "label": "PER"}]}],
            )
        )
    )
    assert as_pairs(dataset) == [[("Hi", "O"), ("Mary", "B-PER")]]
    assert dataset.extra["dropped_words"] == 1


@pytest.mark.parametrize(
    "record, message",
    [
        (
            {"text": "John Smith", "spans": [{"start": 0, "end": 3, "label": "PER"}]},
            r"p\.jsonl:1: span \{\"start\": 0, \"end\": 3, \"label\": \"PER\"\} \('Joh'\) does not start and end on token "
            r"boundaries \(it cuts into 'John'\)",
        ),
        ({"text": "John Smith", "spans": [{"start": 1, "end": 10, "label": "PER"}]}, r"cuts into 'John'"),
        ({"text": "John Smith", "spans": [{"start": 0, "end": 5, "label": "PER"}]}, r"does not start and end on token"),
        (
            {"text": "John Smith", "spans": [{"start": 5, "end": 40, "label": "PER"}]},
            r"p\.jsonl:1: span .* lies outside the text \(characters 0\.\.10\)",
        ),
        ({"text": "John Smith", "spans": [{"start": -1, "end": 4, "label": "PER"}]}, r"lies outside the text"),
        ({"text": "John Smith", "spans": [{"start": 4, "end": 4, "label": "PER"}]}, r"lies outside the text"),
        (
            {"text": "John Smith", "spans": [{"start": 0, "end": 4}]},
            r"needs integer \"start\" and \"end\" and a \"label\"",
        ),
        (
            {
                "text": "John Smith",
                "spans": [{"start": 0, "end": 10, "label": "PER"}, {"start": 5, "end": 10, "label": "X"}],
            },
            r"overlaps another span",
        ),
        ({"text": "John", "tokens": [{"text": "John"}]}, r"token 0 .* needs integer \"start\" and \"end\""),
        ({"spans": []}, r"p\.jsonl:1: the record has no \"text\" string"),
    ],
)
def test_prodigy_bad_input(tmp_path, record, message):
    path = write_jsonl(tmp_path / "p.jsonl", [record])
    with pytest.raises(ExplainerError, match=message):
        load_dataset(str(path))


# --- datasets: save_to_disk and the Hub -------------------------------------------------------------------


@pytest.fixture(scope="module")
def disk_datasets(tmp_path_factory):
    """Tiny datasets written with save_to_disk: a DatasetDict with ClassLabel tags and single Datasets."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value

    root = tmp_path_factory.mktemp("disk")
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    features = Features(
        {"id": Value("string"), "tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=names))}
    )

    def split(rows):
        return Dataset.from_dict(
            {
                "id": [str(i) for i in range(len(rows))],
                "tokens": [r[0] for r in rows],
                "ner_tags": [r[1] for r in rows],
            },
            features=features,
        )

    DatasetDict(
        train=split([(["John", "Smith"], [1, 2]), (["x"], [0])]),
        validation=split([(["Paris"], [3])]),
        test=split([(["Mary", "in", "Paris"], [1, 0, 3]), ([], []), (["New\u200b", "York"], [4, 4])]),
    ).save_to_disk(str(root / "dict"))
    DatasetDict(validation=split([(["Paris"], [3])])).save_to_disk(str(root / "only-validation"))
    DatasetDict(a=split([(["x"], [0])]), b=split([(["y"], [0])])).save_to_disk(str(root / "two"))
    Dataset.from_dict({"words": [["Acme", "Corp"]], "tags": [["B-ORG", "I-ORG"]]}, split="dev").save_to_disk(
        str(root / "single")
    )
    Dataset.from_dict({"tokens": [["a", "b"]], "ner_tags": [[0, 1]]}).save_to_disk(str(root / "plain-ids"))
    return root


def test_disk_datasetdict_defaults_to_test(disk_datasets):
    spec = str(disk_datasets / "dict")
    assert detect_format(spec) == "disk"
    dataset = load_dataset(spec)
    assert dataset.format == "disk" and dataset.split == "test"
    assert as_pairs(dataset) == [
        [("Mary", "B-PER"), ("in", "O"), ("Paris", "B-LOC")],
        [("New", "B-LOC"), ("York", "I-LOC")],
    ]  # IOB1-style I-LOC I-LOC normalised
    assert [e.source for e in dataset.examples] == ["test[0]", "test[2]"]
    assert dataset.skipped_empty == 1
    assert dataset.label_names == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    assert dataset.extra["splits"] == ["train", "validation", "test"]
    assert (dataset.extra["tokens_column"], dataset.extra["tags_column"]) == ("tokens", "ner_tags")


def test_disk_split_choice(disk_datasets):
    train = load_dataset(str(disk_datasets / "dict"), split="train")
    assert as_pairs(train) == [[("John", "B-PER"), ("Smith", "I-PER")], [("x", "O")]]
    assert train.examples[1].source == "train[1]"
    assert load_dataset(str(disk_datasets / "only-validation")).split == "validation"
    with pytest.raises(ExplainerError, match=r"has no split 'dev'; its splits are train, validation, test"):
        load_dataset(str(disk_datasets / "dict"), split="dev")
    with pytest.raises(ExplainerError, match=r"has the splits a, b; choose one with --split"):
        load_dataset(str(disk_datasets / "two"))
    assert load_dataset(str(disk_datasets / "two"), split="b").examples[0].words == ("y",)


def test_disk_single_dataset_with_string_tags(disk_datasets):
    dataset = load_dataset(str(disk_datasets / "single"))
    assert as_pairs(dataset) == [[("Acme", "B-ORG"), ("Corp", "I-ORG")]]
    assert dataset.split == "dev" and dataset.examples[0].source == "dev[0]" and dataset.label_names is None
    with pytest.raises(ExplainerError, match=r"holds only the split 'dev', not 'test'"):
        load_dataset(str(disk_datasets / "single"), split="test")


def test_disk_columns(disk_datasets):
    spec = str(disk_datasets / "dict")
    with pytest.raises(
        ExplainerError,
        match=r"no column 'words' \(given by --tokens-column\); the columns are id, "
        r"tokens, ner_tags",
    ):
        load_dataset(spec, tokens_column="words")
    with pytest.raises(
        ExplainerError,
        match=r"column 'id' holds Value\('string'\), not a list per row; name the "
        r"right column with --tags-column",
    ):
        load_dataset(spec, tokens_column="tokens", tags_column="id")


def test_disk_integer_tags_without_class_label(disk_datasets):
    spec = str(disk_datasets / "plain-ids")
    with pytest.raises(
        ExplainerError,
        match=r"data\[0\]: the tags in 'ner_tags' are integer ids but the dataset "
        r"declares no label names",
    ):
        load_dataset(spec)
    dataset = load_dataset(spec, label_names=["O", "B-X"])
    assert as_pairs(dataset) == [[("a", "O"), ("b", "B-X")]] and dataset.label_names == ["O", "B-X"]


def test_disk_directory_that_is_broken(tmp_path):
    (tmp_path / "state.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ExplainerError, match=r"could not read the datasets directory"):
        load_dataset(str(tmp_path))


def test_hub_failure_is_one_clear_line(monkeypatch):
    import datasets

    def unreachable(name, split=None, **kwargs):
        raise ConnectionError(f"Couldn't reach '{name}' on the Hub\n(offline)")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(ExplainerError) as caught:
        load_dataset("someone/some-ner")
    assert str(caught.value) == (
        "could not load dataset someone/some-ner from the Hugging Face Hub: Couldn't reach "
        "'someone/some-ner' on the Hub (offline); pass a local file or directory"
    )


def test_hub_dataset_goes_through_the_datasets_path(monkeypatch, disk_datasets):
    import datasets

    calls = []

    def fake_load(name, split=None, **kwargs):
        calls.append((name, split))
        loaded = datasets.load_from_disk(str(disk_datasets / "dict"))
        return loaded if split is None else loaded[split]

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    dataset = load_dataset("someone/some-ner")
    assert dataset.format == "hub" and dataset.split == "test" and dataset.spec == "someone/some-ner"
    assert len(dataset.examples) == 2
    validation = load_dataset("someone/some-ner", split="validation")
    assert validation.examples[0].source == "validation[0]"
    assert calls == [("someone/some-ner", None), ("someone/some-ner", "validation")]


def test_strip_prefix_removes_a_prefix_on_load(tmp_path):
    sentences = [[(f"en:{word}", tag) for word, tag in sentence] for sentence in PER_LOC] + [[("en:", "O")]]
    dataset = load_dataset(str(write_conll(tmp_path / "wikiann.conll", sentences)), strip_prefix="en:")
    assert [list(example.words) for example in dataset.examples] == [
        ["John", "Smith", "visited", "Paris", "."],
        ["Acme", "Corp"],
        ["en:"],  # a word that is only the prefix stays
    ]
    assert dataset.extra["stripped_prefix"] == {"prefix": "en:", "words": 7}


def test_strip_prefix_that_starts_no_word_is_an_error(tmp_path):
    with pytest.raises(ExplainerError, match=r"--strip-prefix 'fr:': no word of .*data.conll starts with it"):
        load_dataset(str(write_conll(tmp_path / "data.conll", PER_LOC)), strip_prefix="fr:")


def test_i_tags_read_as_opening_an_entity_are_recorded_before_the_repair(tmp_path):
    sentences = [[("a", "O"), ("b", "I-PER"), ("c", "B-LOC"), ("d", "I-PER")], [("e", "I-ORG"), ("f", "I-ORG")]]
    path = str(write_conll(tmp_path / "i-after-o.conll", sentences))
    assert load_dataset(path).extra["iob2_repairs"] == []  # detected as IOB1, where I- may open an entity
    dataset = load_dataset(path, tag_scheme="iob2")
    assert dataset.extra["iob2_repairs"] == [(0, 1), (0, 3), (1, 0)]
    assert dataset.examples[1].tags == ("B-ORG", "I-ORG")  # repaired all the same


def test_a_repair_is_located_among_the_words_kept_after_cleaning(tmp_path):
    sentences = [[("\u200b", "O"), ("a", "O"), ("b", "I-PER")]]  # the zero-width word is dropped on load
    dataset = load_dataset(str(write_conll(tmp_path / "cleaned.conll", sentences)), tag_scheme="iob2")
    assert dataset.examples[0].words == ("a", "b")
    assert dataset.extra["iob2_repairs"] == [(0, 1)]


# --- tag schemes: detected over the whole dataset, converted to IOB2, recorded --------------------------

BIOES_SENTENCES = [
    [("John", "B-PER"), ("Smith", "E-PER"), ("visited", "O"), ("Paris", "S-LOC"), (".", "O")],
    [("Acme", "B-ORG"), ("New", "I-ORG"), ("Corp", "E-ORG"), ("Ann", "S-PER"), ("Bob", "S-PER")],
]
IOB2_OF_BIOES = [
    ["B-PER", "I-PER", "O", "B-LOC", "O"],
    ["B-ORG", "I-ORG", "I-ORG", "B-PER", "B-PER"],
]


def test_a_bioes_conll_file_loads_as_iob2_and_records_its_scheme(tmp_path):
    dataset = load_dataset(str(write_conll(tmp_path / "bioes.conll", BIOES_SENTENCES)))
    assert [list(example.tags) for example in dataset.examples] == IOB2_OF_BIOES
    assert dataset.extra["tag_scheme"] == "bioes"


def test_a_bilou_jsonl_file_loads_as_iob2(tmp_path):
    bilou = {"B": "B", "I": "I", "E": "L", "S": "U"}
    records = [
        {"tokens": [w for w, _ in s], "tags": [t if t == "O" else bilou[t[0]] + t[1:] for _, t in s]}
        for s in BIOES_SENTENCES
    ]
    dataset = load_dataset(str(write_jsonl(tmp_path / "bilou.jsonl", records)))
    assert [list(example.tags) for example in dataset.examples] == IOB2_OF_BIOES
    assert dataset.extra["tag_scheme"] == "bilou"


@pytest.mark.parametrize(
    ("sentences", "scheme"),
    [
        (PER_LOC, "iob2"),
        ([[("John", "I-PER"), ("Smith", "I-PER")], [("Ann", "I-PER"), ("Bob", "B-PER")]], "iob1"),
    ],
)
def test_iob_files_record_their_scheme(tmp_path, sentences, scheme):
    assert load_dataset(str(write_conll(tmp_path / "f.conll", sentences))).extra["tag_scheme"] == scheme


def test_a_conll_file_that_mixes_schemes_names_the_line_of_the_word(tmp_path):
    sentences = [*BIOES_SENTENCES, [("Mary", "B-PER"), ("left", "O")]]  # an IOB2 entity in a BIOES file
    path = write_conll(tmp_path / "mixed.conll", sentences)
    with pytest.raises(ExplainerError) as caught:
        load_dataset(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}:14: 'O' follows 'B-PER'"), message
    assert f"because of 'E-PER' at {path}:2" in message


def test_a_jsonl_file_that_mixes_bioes_and_bilou_names_record_and_word(tmp_path):
    records = [{"tokens": ["a", "b"], "tags": ["S-X", "O"]}, {"tokens": ["c", "d"], "tags": ["O", "U-Y"]}]
    path = write_jsonl(tmp_path / "mixed.jsonl", records)
    with pytest.raises(ExplainerError, match=r"mixed\.jsonl:2 \(word 2\): tag 'U-Y' is BILOU but .*:1 \(word 1\)"):
        load_dataset(str(path))


def test_a_given_tag_scheme_is_checked_and_used(tmp_path):
    path = str(write_conll(tmp_path / "bioes.conll", BIOES_SENTENCES))
    assert load_dataset(path, tag_scheme="bioes").extra["tag_scheme"] == "bioes"
    with pytest.raises(ExplainerError, match=r"bioes\.conll:2: tag 'E-PER' is BIOES, not IOB2 as --tag-scheme iob2"):
        load_dataset(path, tag_scheme="iob2")
    iob2 = str(write_conll(tmp_path / "iob2.conll", PER_LOC))
    assert load_dataset(iob2, tag_scheme="iob1").extra["tag_scheme"] == "iob1"
    with pytest.raises(ExplainerError, match="--tag-scheme bioes says"):
        load_dataset(iob2, tag_scheme="bioes")
    prodigy = write_jsonl(tmp_path / "p.jsonl", [{"text": "a b", "spans": []}])
    with pytest.raises(ExplainerError, match="Prodigy-style character spans, not tags; omit --tag-scheme"):
        load_dataset(str(prodigy), tag_scheme="bioes")


def test_a_dropped_word_does_not_break_a_bioes_entity(tmp_path):
    sentences = [[("\u200b", "B-ORG"), ("Acme", "I-ORG"), ("Corp", "E-ORG"), ("x", "S-LOC")]]
    dataset = load_dataset(str(write_conll(tmp_path / "f.conll", sentences)))
    assert dataset.examples[0].tags == ("B-ORG", "I-ORG", "B-LOC")
    assert dataset.extra["dropped_words"] == 1
