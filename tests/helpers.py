"""Test fixtures made on the spot: a tiny randomly initialised BERT and dataset files.

Nothing here touches the Hugging Face Hub.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout: tests may sit at any depth under tests/

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]

# Words the fixtures use; anything else becomes [UNK] or is split into known pieces.
VOCAB_WORDS = [
    "the",
    "a",
    "an",
    "of",
    "in",
    "on",
    "at",
    "to",
    "and",
    "is",
    "was",
    "were",
    "by",
    "for",
    "with",
    "from",
    "that",
    "this",
    "it",
    "he",
    "she",
    "they",
    "we",
    "you",
    "i",
    "visited",
    "lives",
    "paris",
    "london",
    "berlin",
    "new",
    "york",
    "city",
    "john",
    "smith",
    "mary",
    "jones",
    "acme",
    "corp",
    "inc",
    "bank",
    "germany",
    "france",
    "europe",
    "monday",
    "weekend",
    "last",
    "where",
    "said",
    "told",
    "reporters",
    "company",
    "united",
    "nations",
    "emmanuel",
    "macron",
    "angela",
    "merkel",
    "google",
    "apple",
    "microsoft",
    "river",
    "street",
    "road",
    "world",
    "cup",
    "league",
    "match",
    "team",
    "won",
    "lost",
    ".",
    ",",
    "!",
    "?",
    "'",
    '"',
    "-",
    "(",
    ")",
    ":",
    ";",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "0",
    "<",
    ">",
    "/",
    "script",
    "alert",
    "b",
    "x",
]
PIECES = ["##s", "##ed", "##ing", "##er", "##ly", "##a", "##e", "##i", "##o", "##n", "##t", "##r"]


def make_tiny_model(
    directory: Path,
    *,
    labels=LABELS,
    max_position_embeddings: int = 64,
    hidden_size: int = 32,
    num_layers: int = 2,
    seed: int = 0,
) -> Path:
    """Save a randomly initialised BertForTokenClassification and a fast tokenizer to ``directory``."""
    import torch
    from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(VOCAB_WORDS)) + PIECES
    vocab += list("abcdefghijklmnopqrstuvwxyz") + ["##" + c for c in "bcdfghjklmpquvwxyz"]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(vocab))}
    tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=True, model_max_length=max_position_embeddings)
    tokenizer.save_pretrained(directory)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=2,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=max_position_embeddings,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    BertForTokenClassification(config).save_pretrained(directory)
    return directory


def write_conll(path: Path, sentences, *, separator: str = " ", docstart: bool = False) -> Path:
    """Write ``[[(word, tag), ...], ...]`` as a CoNLL column file."""
    lines = ["-DOCSTART- O", ""] if docstart else []
    for sentence in sentences:
        lines += [f"{word}{separator}{tag}" for word, tag in sentence]
        lines.append("")
    Path(path).write_text("\n".join(lines), encoding="utf-8")
    return Path(path)


def write_jsonl(path: Path, records) -> Path:
    Path(path).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return Path(path)


HOSTILE_WORDS = ["<script>alert(1)</script>", "<b>x</b>"]


def fixture_sentences(n: int = 60, *, seed: int = 0):
    """Seeded NER sentences over the fixture vocabulary, with a long one and one of hostile text."""
    import random

    rng = random.Random(seed)
    people = [["John", "Smith"], ["Mary", "Jones"], ["Angela", "Merkel"], ["Emmanuel", "Macron"]]
    orgs = [["Acme", "Corp"], ["Google"], ["United", "Nations"], ["Bank", "of", "France"]]
    places = [["Paris"], ["London"], ["New", "York", "City"], ["Berlin"], ["Germany"]]
    misc = [["World", "Cup"], ["Monday"]]
    fillers = ["the", "said", "visited", "in", "on", "last", "weekend", "where", "lives", "told", "reporters", "."]

    def entity(words, kind):
        return [(w, ("B-" if i == 0 else "I-") + kind) for i, w in enumerate(words)]

    sentences = []
    for _ in range(n):
        sentence = []
        for _ in range(rng.randint(2, 5)):
            sentence += [(w, "O") for w in rng.sample(fillers, rng.randint(1, 3))]
            kind, pool = rng.choice([("PER", people), ("ORG", orgs), ("LOC", places), ("MISC", misc)])
            sentence += entity(rng.choice(pool), kind)
        sentence.append((".", "O"))
        sentences.append(sentence)
    long_sentence = []
    while len(long_sentence) < 90:  # longer than the tiny model's 64 positions: built in windows
        long_sentence += [("John", "B-PER"), ("Smith", "I-PER"), ("visited", "O"), ("Paris", "B-LOC"), (",", "O")]
    sentences.append(long_sentence)
    sentences.append(
        [("He", "O"), ("wrote", "O")] + [(w, "O") for w in HOSTILE_WORDS] + [("in", "O"), ("Paris", "B-LOC")]
    )
    return sentences


def word_dataset(n: int = 12):
    """A datasets.Dataset of words and ClassLabel tags, as a notebook holds one before tokenising."""
    import datasets

    sentences = fixture_sentences(n)[:n]
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=LABELS)),
        }
    )
    return datasets.Dataset.from_dict(
        {
            "tokens": [[word for word, _ in sentence] for sentence in sentences],
            "ner_tags": [[LABELS.index(tag) for _, tag in sentence] for sentence in sentences],
        },
        features=features,
    )


# --- layouts: what a rendered Dash tree holds -------------------------------------------------


def walk(component):
    """Every component and string in a layout tree (or a list of trees, or serialised components)."""
    if isinstance(component, (list, tuple)):
        for item in component:
            yield from walk(item)
        return
    yield component
    if isinstance(component, dict):  # a component in Dash's serialised form (the aligned rows' cells)
        yield from walk(component.get("props", {}).get("children"))
        return
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children] if children is not None else []:
        yield from walk(child)


def strings(tree) -> list[str]:
    return [str(node) for node in walk(tree) if isinstance(node, (str, int, float, np.integer, np.floating))]


# --- builds ---------------------------------------------------------------------------------------


def build_activation_cache(model, dataset, out, *extra: str):
    """``explainer build`` with only the activations step (the other analyses are other tests' business)."""
    import pytest

    from explainer.cli import main
    from explainer.pipeline import steps

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(steps, "STEPS", {"activations": steps.STEPS["activations"]})
        assert main(["build", "--model", str(model), "--dataset", str(dataset), "--out", str(out), *extra]) == 0
    return out


# --- review ---------------------------------------------------------------------------------------


def decision(words, original, corrected, *, kind=None, **more):
    """A review decision on the example ``words``/``original`` (an edit unless ``kind`` says otherwise)."""
    from explainer.data.example import Example
    from explainer.review.corrections import EDIT, make_decision

    return make_decision(
        key=Example(words=tuple(words), tags=tuple(original)).words_hash,
        words=words,
        original=original,
        corrected=corrected,
        kind=kind or EDIT,
        **more,
    )


@contextlib.contextmanager
def small_filesystem(directory: Path, size: str = "8m"):
    """Mount a tmpfs of ``size`` at ``directory`` for the block (skips the test where mounting is not allowed)."""
    import pytest

    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs at {directory} (needs root): {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        # Lazily, if a test still holds a file there (a memory map): it goes when the file is closed.
        if subprocess.run(["umount", str(directory)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(directory)], check=True)


def fill_disk(directory: Path, *, leave: int = 0) -> None:
    """Take the free space of ``directory``'s filesystem with a new ballast file, all but ``leave`` bytes."""
    import os
    import shutil

    taken = shutil.disk_usage(directory).free - leave
    count = len(list(directory.glob("ballast-*")))
    with (directory / f"ballast-{count}").open("wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, taken)


# --- broken caches (tests/app/test_caches.py, tests/cache/test_reader.py) --------------------------

# JSON values of each type that a manifest field can wrongly hold.
WRONG_JSON_TYPES = {"string": "oops", "list": ["oops"], "number": 3, "null": None}
# Types a field may legitimately have (a dataset without splits has split null).
VALID_FIELD_TYPES = {"split": ("string", "null"), "labels": ("list",)}
# (field, type name, value) for every manifest field the app reads up front and every type it must not have.
WRONG_MANIFEST_FIELDS = [
    (field, kind, value)
    for field in ("model", "dataset", "split", "counts", "headline", "labels")
    for kind, value in WRONG_JSON_TYPES.items()
    if kind not in VALID_FIELD_TYPES.get(field, ())
] + [
    ("model", "object with a list id", {"id": ["x"]}),
    ("counts", "object of strings", {"examples": "many"}),
    ("headline", "object of strings", {"entity_f1": "high"}),
    ("labels", "list of numbers", [0, 1]),
]


def set_manifest_field(cache: Path, field: str, value) -> None:
    """Overwrite one field of ``cache``'s manifest.json."""
    path = cache / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest[field] = value
    path.write_text(json.dumps(manifest), encoding="utf-8")


def deny_reads(monkeypatch, target: Path) -> None:
    """Make ``target`` unreadable as chmod 000 does for a user other than root (tests run as root, whom
    chmod does not stop): nothing inside a directory can be looked up, a file cannot be opened."""
    import pathlib

    target = Path(target)

    def denied(path) -> PermissionError:
        return PermissionError(13, "Permission denied", str(path))

    if target.is_dir():
        stat = pathlib.Path.stat

        def guarded_stat(self, *args, **kwargs):
            if target in self.parents:
                raise denied(self)
            return stat(self, *args, **kwargs)

        monkeypatch.setattr(pathlib.Path, "stat", guarded_stat)
    else:
        read_text = pathlib.Path.read_text

        def guarded_read_text(self, *args, **kwargs):
            if self == target:
                raise denied(self)
            return read_text(self, *args, **kwargs)

        monkeypatch.setattr(pathlib.Path, "read_text", guarded_read_text)


# --- PostgreSQL (tests/review/test_store.py, the two-host review test) ----------------------------


def postgres_bin() -> Path | None:
    """The directory of Debian's PostgreSQL server programs (initdb, pg_ctl), None when not installed."""
    import shutil

    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@contextlib.contextmanager
def postgres_server():
    """A throwaway PostgreSQL server on 127.0.0.1 (a free port; data in a new temporary directory, removed after
    the block: pytest's own temporary directories are private to root, which the server's user cannot enter).

    Yields ``(url, stop, start)``: the SQLAlchemy URL and functions that stop and start the server again (the
    tests take the database away mid-run). As root, the server runs as the ``postgres`` user (initdb refuses
    root). Skips the test when the server programs are not installed.
    """
    import os
    import pwd
    import shutil
    import socket
    import tempfile

    import pytest

    programs = postgres_bin()
    if programs is None:
        pytest.skip("PostgreSQL's server is not installed (make test installs Debian's postgresql)")
    directory = Path(tempfile.mkdtemp(prefix="explainer-postgres-"))
    data = directory / "pgdata"
    data.mkdir(parents=True)
    prefix: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (directory, data):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def run(*command: str) -> None:
        subprocess.run([*prefix, *command], check=True, capture_output=True, text=True, cwd=directory)

    run(str(programs / "initdb"), "-D", str(data), "-A", "trust", "-U", "explainer", "--no-sync")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c fsync=off"

    def start() -> None:
        run(
            str(programs / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(directory / "server.log"), "-w", "start"
        )

    def stop() -> None:
        run(str(programs / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")

    start()
    try:
        run(str(programs / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "explainer", "review")
        yield f"postgresql+psycopg://explainer@127.0.0.1:{port}/review", stop, start
    finally:
        subprocess.run(
            [*prefix, str(programs / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(directory, ignore_errors=True)


# --- browser tests (dash_duo) at the widths issue 22 names -----------------------------------------------------

BROWSER_WIDTHS = (1024, 1600)
BROWSER_TIMEOUT = 30  # generous: these machines are shared and often loaded


def visit(dash_duo, query: str, width: int) -> None:
    """Open the app at ``query`` (e.g. "?tab=samples") in a window ``width`` px wide."""
    dash_duo.driver.set_window_size(width, 1000)
    dash_duo.driver.get(dash_duo.server_url + "/" + query)


def click(dash_duo, selector: str) -> None:
    """Click the element of ``selector`` once it is there, scrolled into view (a click a covered element takes)."""
    element = dash_duo.wait_for_element(selector, timeout=BROWSER_TIMEOUT)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element)


def url_state(dash_duo) -> dict:
    """The app's URL settings, as the app parses them."""
    from explainer.app.state import parse_query

    return parse_query("?" + dash_duo.driver.current_url.partition("?")[2])


# --- plotly scatter plots in the browser (Embeddings, Data map) -------------------------------------------------

# The drawn point farthest (in pixels) from any other, so a click there can only hit it; arguments: the graph's
# selector, and the margin (px) a point keeps from the plot area's edges.
ISOLATED_POINT_JS = """
var gd = document.querySelector(arguments[0]), margin = arguments[1];
var xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, points = [];
gd._fullData.forEach(function (trace) {
    for (var i = 0; i < trace.x.length; i++) {
        points.push({px: xa.l2p(trace.x[i]), py: ya.l2p(trace.y[i]), ids: String(trace.customdata[i]).split(':').map(Number)});
    }
});
var best = null, bestGap = -1;
points.forEach(function (p) {
    var gap = Infinity;
    points.forEach(function (q) { if (q !== p) { gap = Math.min(gap, Math.hypot(p.px - q.px, p.py - q.py)); } });
    if (gap > bestGap && p.px > margin && p.py > margin && p.px < xa._length - margin && p.py < ya._length - margin) {
        best = p; bestGap = gap;
    }
});
best.gap = bestGap;
return best;
"""


def wait_for_scatter(dash_duo, graph: str) -> None:
    """Wait until the plotly graph of selector ``graph`` has drawn its data and holds its size (it resizes to its
    container after the first draw); the window is large enough for the whole plot (pointer moves stay in view)."""
    import time

    from selenium.webdriver.support.ui import WebDriverWait

    dash_duo.driver.set_window_size(1400, 1400)
    dash_duo.wait_for_element(f"{graph} .nsewdrag", timeout=20)
    WebDriverWait(dash_duo.driver, 20).until(
        lambda driver: driver.execute_script(
            "var gd = document.querySelector(arguments[0]); return gd && gd._fullLayout && gd.data.length > 0", graph
        )
    )
    size_js = "var l = document.querySelector(arguments[0])._fullLayout; return [l.width, l.height];"
    previous = None
    for _ in range(40):
        current = dash_duo.driver.execute_script(size_js, graph)
        if current == previous:
            break
        previous = current
        time.sleep(0.5)
    assert "WebGL is not supported" not in dash_duo.find_element(graph).text


def viewport_point(dash_duo, graph: str, px: float, py: float) -> tuple[int, int]:
    """Viewport coordinates of pixel (px, py) of the plot area of ``graph``, after scrolling it into view.

    Pointer moves go to viewport coordinates: moves relative to the SVG drag layer land off by the
    height of whatever selenium thinks the element's centre is.
    """
    drag = dash_duo.find_element(f"{graph} .nsewdrag")
    box = dash_duo.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center'}); var r = arguments[0].getBoundingClientRect();"
        "return [r.left, r.top];",
        drag,
    )
    return int(round(box[0] + px)), int(round(box[1] + py))


def click_plot_at(dash_duo, graph: str, px: float, py: float) -> None:
    """Click the plot area of ``graph`` at pixel (px, py) of its axes."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    actions = ActionBuilder(dash_duo.driver)
    actions.pointer_action.move_to_location(*viewport_point(dash_duo, graph, px, py)).pause(0.2).click()
    actions.perform()
