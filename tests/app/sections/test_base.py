"""The section contract (``explainer/app/sections/base.py``): URL views, links, ids, the navigation's order,
and that every id a callback names exists in some layout the app renders."""

from __future__ import annotations

import ast
import json
import shutil
from dataclasses import dataclass, replace

import dash
import pytest
from dash import ALL, MATCH, Input, Output, State, dcc, html
from helpers import REPO_ROOT

from explainer.app.components.inspector import render_inspector
from explainer.app.factory import AppContext, create_app, inspected_example, make_layout, navigation_state, review_link
from explainer.app.sections import (
    activations,
    duplicates,
    inspect,
    load_sections,
    loss,
    metrics,
    misclassified,
    probing,
    raw_data,
    review,
    samples,
)
from explainer.app.sections.base import (
    EXAMPLES,
    GROUPS,
    PERFORMANCE,
    Section,
    StrEnum,
    View,
    component_ids,
    view_field,
)
from explainer.app.settings import Settings
from explainer.app.state import parse_query
from explainer.inference.probe import probe

APP = REPO_ROOT / "explainer" / "app"


# --- the URL view --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PagedView(View, prefix="pg"):
    page: int = view_field(1, low=1)
    size: int = view_field(10, low=1, high=50)
    order: str = view_field("loss", choices=("loss", "f1"))
    text: str | None = None
    ratio: float | None = None
    strict: bool = False
    tags: tuple[str, ...] = view_field((), parse=lambda text: tuple(text.split(",")), format=",".join)


def test_a_view_reads_its_fields_from_the_prefixed_query_keys():
    query = {"pg_page": "3", "pg_size": "20", "pg_order": "f1", "pg_text": "Paris", "pg_ratio": "0.25"}
    query |= {"pg_strict": "1", "pg_tags": "a,b", "page": "9", "other_page": "7"}
    assert PagedView.from_query(query) == PagedView(
        page=3, size=20, order="f1", text="Paris", ratio=0.25, strict=True, tags=("a", "b")
    )
    assert PagedView.from_query({}) == PagedView()
    assert PagedView.key("page") == "pg_page"


@pytest.mark.parametrize(
    "key, junk",
    [
        ("pg_page", "two"),
        ("pg_page", "1.5"),
        ("pg_order", "<script>"),
        ("pg_ratio", "nan"),
        ("pg_ratio", "inf"),
        ("pg_ratio", "x"),
        ("pg_strict", "yes"),
        ("pg_text", ""),
    ],
)
def test_a_value_that_does_not_parse_gives_the_default(key, junk):
    assert PagedView.from_query({key: junk}) == PagedView()


def test_numbers_are_clamped_into_their_range():
    assert PagedView.from_query({"pg_page": "-4", "pg_size": "500"}) == PagedView(page=1, size=50)
    assert PagedView(size=0).size == 1  # however the view is made


def test_a_choice_left_empty_by_a_control_is_the_default():
    assert PagedView(order=None).order == "loss"
    assert PagedView(text=None).text is None  # a field without choices may be unset


def test_to_query_writes_every_set_field_and_reads_back():
    view = PagedView(page=2, order="f1", text="a b", ratio=0.1, strict=True, tags=("x",))
    query = view.to_query()
    assert query == {
        "pg_page": "2",
        "pg_size": "10",
        "pg_order": "f1",
        "pg_text": "a b",
        "pg_ratio": "0.1",
        "pg_strict": "1",
        "pg_tags": "x",
    }
    assert PagedView.from_query(query) == view
    assert PagedView().to_query()["pg_text"] is None  # an unset field removes its key from the URL


def test_corrections_keep_fields_consistent():
    view = misclassified.MisclassifiedView.from_query({"mis_level": "word", "mis_category": "missed", "mis_gold": "O"})
    assert (view.category, view.gold) == (None, "O")  # span-only filters mean nothing at word level
    assert replace(view, level="span", category="missed").category == "missed"


def test_a_field_can_name_its_query_key_and_leave_its_default_out_of_the_url():
    @dataclass(frozen=True)
    class KeyedView(View, prefix="kv"):
        other: str | None = view_field(None, key="with")
        page: int = view_field(1, low=1, format=lambda page: str(page) if page > 1 else None)

    assert KeyedView.key("other") == "kv_with" and KeyedView.key("page") == "kv_page"
    assert KeyedView.from_query({"kv_with": "train", "kv_other": "x", "kv_page": "3"}) == KeyedView("train", 3)
    assert KeyedView().to_query() == {"kv_with": None, "kv_page": None}
    with pytest.raises(KeyError, match="no field 'with'"):
        KeyedView.key("with")


def test_the_duplicates_threshold_snaps_to_the_slider_and_stays_in_its_range():
    view = duplicates.DuplicatesView
    assert view.from_query({"dup_threshold": "0.8349", "dup_only": "1", "dup_page": "0"}) == view(0.83, True, 1)
    assert view.from_query({"dup_threshold": "0.2"}).threshold == 0.8
    assert view.from_query({"dup_threshold": "7"}).threshold == 1.0
    assert view.from_query({"dup_threshold": "nan", "dup_only": "yes"}) == view()
    assert view(0.9, True, 2, "train").to_query() == {
        "dup_threshold": "0.90",
        "dup_only": "1",
        "dup_page": "2",
        "dup_with": "train",
    }
    assert set(view().to_query().values()) == {None}  # the default view adds nothing to a URL


def test_the_activations_view_is_made_valid_for_the_sample(tiny_cache):
    from explainer.cache.reader import open_cache

    sample = activations.open_sample(open_cache(tiny_cache))
    view = activations.ActivationsView
    first, last = sample.example_ids[0], sample.example_ids[-1]
    assert view.from_query({"act_layers": "0", "act_k": "3", "act_example": str(last)}).resolved(sample) == (
        (0,),
        3,
        last,
    )
    every = tuple(range(sample.n_layers))
    assert view.from_query({"act_layers": "x-y-z", "act_k": "99", "act_example": "-5"}).resolved(sample) == (
        every,
        activations.MAX_COMPONENTS,
        first,
    )
    assert view.from_query({"act_k": "0"}).k == activations.MIN_COMPONENTS


def test_a_field_of_a_type_the_parser_does_not_know_needs_its_own_parser():
    @dataclass(frozen=True)
    class ListView(View, prefix="ls"):
        items: list | None = None

    with pytest.raises(TypeError, match="parse= and format="):
        ListView.from_query({"ls_items": "a"})


def test_shared_links_keep_their_query_keys():
    """The query keys of every converted section, as shared links wrote them before views were dataclasses."""
    expected = {
        "metrics": {"metrics_norm", "metrics_zero", "metrics_confusion"},
        "misclassified": {
            "mis_level",
            "mis_category",
            "mis_type",
            "mis_gold",
            "mis_pred",
            "mis_text",
            "mis_slice",
            "mis_own",
        },
        "samples": {"smp_order", "smp_page"},
        "random_samples": {"rnd_seed", "rnd_n", "rnd_order"},
        "inspect": {"ins_text", "ins_own"},
        "raw_data": {"raw_id"},
        "embeddings": {"emb_mode", "emb_colour", "emb_labels", "emb_errors", "emb_loss", "emb_sel"},
        "review": {"rev_order", "rev_type", "rev_cat", "rev_status", "rev_ex"},
        "duplicates": {"dup_threshold", "dup_only", "dup_page", "dup_with"},
        "activations": {"act_layers", "act_k", "act_example"},
        "data_checks": {"chk_check"},
        "data_map": {"dmap_level"},
        "slices": {"sl_type", "sl_slice", "sl_own"},
        "compare": {"cmp_transition", "cmp_type", "cmp_order", "cmp_page"},
        "loss": {"loss_min"},
    }
    views = {section.key: section.view for section in load_sections() if section.view}
    assert {key: set(view().to_query()) for key, view in views.items()} == expected


# --- links between sections ----------------------------------------------------------------------


def test_a_link_opens_the_section_on_that_view_and_closes_the_inspector():
    search = "?cache=tiny&vs=other&tab=metrics&metrics_norm=0&mis_text=old&mis_type=PER&sample=3&word=1"
    state = parse_query(misclassified.SECTION.link(search, level="word", gold="B-PER", pred="O"))
    assert state == {
        "cache": "tiny",
        "vs": "other",  # keys of no section stay
        "tab": "misclassified",  # the URL keeps only the active section's settings: no metrics_norm
        "mis_level": "word",
        "mis_gold": "B-PER",
        "mis_pred": "O",
    }
    assert parse_query(samples.SECTION.link("?cache=tiny")) == {
        "cache": "tiny",
        "tab": "samples",
        "smp_order": "loss",
        "smp_page": "1",
    }


# A URL holding settings of many sections (as a hand-edited or old shared link may), global keys and an example.
BUSY = (
    "?cache=tiny&vs=copy&tab=metrics&metrics_norm=0&mis_text=old&smp_page=3&emb_mode=example&rev_order=loss"
    "&dup_page=2&rnd_seed=5&sl_type=PER&cmp_page=2&loss_min=5&ins_text=x&raw_id=4&chk_check=c&act_k=3"
    "&sample=3&word=1"
)


def _own_keys_only(state: dict, section) -> bool:
    """Whether ``state`` holds only the global keys and ``section``'s own settings."""
    return all(key in ("cache", "vs", "tab") or key.startswith(f"{section.prefix}_") for key in state)


@pytest.mark.parametrize("section", load_sections(), ids=lambda section: section.key)
def test_a_link_keeps_only_its_sections_settings_and_the_global_keys(section):
    state = parse_query(section.link(BUSY))
    assert (state["cache"], state["vs"], state["tab"]) == ("tiny", "copy", section.key)
    assert _own_keys_only(state, section), state
    assert "sample" not in state and "word" not in state


def test_cross_section_links_land_on_the_example_or_filter_they_name():
    view = misclassified.MisclassifiedView
    context = AppContext(settings=Settings(), registry=None, sections=load_sections())  # links need no cache
    raw_href, review_href = navigation_state(context, BUSY, {"ids": [1, 3, 7]})[3:]
    cases = [
        (
            metrics.confusion_cell_link(BUSY, "word", "B-PER", "O"),
            misclassified,
            view(level="word", gold="B-PER", pred="O"),
        ),
        (
            metrics.confusion_cell_link(BUSY, "span", "none", "PER"),
            misclassified,
            view(level="span", category="spurious", pred="PER"),
        ),
        (
            metrics.confusion_cell_link(BUSY, "span", "LOC", "none"),
            misclassified,
            view(level="span", category="missed", gold="LOC"),
        ),
        (
            loss.word_clicked({"rowId": f"{loss.WORD_ROW_PREFIX}Paris"}, BUSY),
            inspect,
            inspect.InspectView(text="Paris"),
        ),
        (loss.label_clicked({"rowId": "B-LOC"}, BUSY), misclassified, view(level="word", gold="B-LOC")),
        (raw_href, raw_data, raw_data.RawView(id=3)),  # the inspector's example, in Raw data and in Review
        (review_href, review, review.ReviewView(ex=3)),
        (review_link(context, BUSY, 3), review, review.ReviewView(ex=3)),
    ]
    for url, module, expected in cases:
        state = parse_query(url)
        assert state["tab"] == module.SECTION.key and state["cache"] == "tiny", url
        assert type(expected).from_query(state) == expected, url
        assert _own_keys_only(state, module.SECTION), url


def test_a_link_refuses_a_field_the_view_has_not():
    with pytest.raises(TypeError):
        misclassified.SECTION.link("", gold_label="B-PER")
    debug = next(section for section in load_sections() if section.key == "debug")
    assert parse_query(debug.link("?cache=tiny")) == {"cache": "tiny", "tab": "debug"}
    with pytest.raises(TypeError, match="no URL view"):
        debug.link("", page=2)


def _written_query_keys(tree: ast.AST):
    """(line, keyword) of every keyword argument of every ``update_query(...)`` call."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "update_query":
            yield from ((node.lineno, keyword.arg) for keyword in node.keywords if keyword.arg)


def test_no_module_writes_the_section_or_another_sections_query_keys():
    sections = load_sections()
    own = {f"{section.key}.py": section.prefix for section in sections}
    prefixes = {section.prefix for section in sections}
    found = []
    for path in sorted(APP.rglob("*.py")):
        if path.name == "base.py":  # Section.link: the one place that writes ``tab``
            continue
        for line, key in _written_query_keys(ast.parse(path.read_text(encoding="utf-8"))):
            other = key.split("_", 1)[0] in prefixes - {own.get(path.name)} and "_" in key
            if key == "tab" or other:
                found.append(f"{path.relative_to(APP)}:{line} writes {key}=")
    assert found == [], "link to the section with SECTION.link(search, **view_fields) instead"


# --- sections and the navigation -----------------------------------------------------------------


def test_sections_come_in_navigation_order_by_group_then_order():
    sections = load_sections()
    places = [(GROUPS.index(section.group), section.order) for section in sections]
    assert places == sorted(places) and len(set(places)) == len(places)
    assert [section.key for section in sections][:3] == ["metrics", "misclassified", "loss"]
    assert {section.group for section in sections} == set(GROUPS)


def test_ids_are_unique_across_sections_and_start_with_their_key():
    ids = [(section.key, member.value) for section in load_sections() for member in section.ids or ()]
    values = [value for _, value in ids]
    assert len(values) == len(set(values)) > 40
    assert all(value.startswith(f"{key}-") for key, value in ids)


def test_a_section_is_refused_an_id_outside_its_key():
    class Ids(StrEnum):
        LEVEL = "misclassified-level"

    with pytest.raises(ValueError, match="must start with 'other-'"):
        Section(key="other", label="Other", group=PERFORMANCE, order=1, layout=lambda cache, state: None, ids=Ids)


def test_render_passes_the_context_to_a_layout_that_needs_it():
    plain = Section(key="x", label="X", group=EXAMPLES, order=1, layout=lambda cache, query: (cache, query))
    needs = replace(plain, layout=lambda cache, query, context: (cache, query, context), layout_needs_context=True)
    assert plain.render("app", "cache", {"a": "1"}) == ("cache", {"a": "1"})
    assert needs.render("app", "cache", {"a": "1"}) == ("cache", {"a": "1"}, "app")


def test_every_section_declares_its_ids_and_its_view():
    sections = load_sections()
    assert [section.key for section in sections if section.register and section.ids is None] == []
    assert {section.key for section in sections if section.view is None} <= {"loss", "probing", "debug", "review_stats"}


# --- every id a callback names is in some layout -------------------------------------------------


def _parsed(ident):
    """A dependency's id as a layout holds it: a string, or a dict (wildcards as ['MATCH'], ['ALL'])."""
    return json.loads(ident) if isinstance(ident, str) and ident.startswith("{") else ident


def callback_ids(app: dash.Dash) -> list[tuple[str, str | dict]]:
    """(callback, id) for every Output, Input and State of every callback registered on ``app``."""
    found = []
    for name, spec in app.callback_map.items():
        outputs = spec["output"] if isinstance(spec["output"], list) else [spec["output"]]
        idents = [output.component_id_str() for output in outputs]
        idents += [dependency["id"] for dependency in spec["inputs"] + spec["state"]]
        found += [(name, _parsed(ident)) for ident in idents]
    return found


def _present(ident, strings: set[str], patterns: list[dict]) -> bool:
    """A string id must be in the layouts as it is; a pattern-matching id must match a dict id with the
    same keys, equal in every key that is not a wildcard (so ``type``, and e.g. ``section``, must match)."""
    if isinstance(ident, str):
        return ident in strings
    fixed = {key: value for key, value in ident.items() if not isinstance(value, list)}
    return any(set(candidate) == set(ident) and fixed.items() <= candidate.items() for candidate in patterns)


def missing_ids(app: dash.Dash, trees: list) -> list[str]:
    """Every id some callback of ``app`` names that no component in ``trees`` has, with its callback."""
    ids = [ident for tree in trees for ident in component_ids(tree)]
    strings = {ident for ident in ids if isinstance(ident, str)}
    patterns = [ident for ident in ids if isinstance(ident, dict)]
    return sorted(
        {
            f"{json.dumps(ident)} (in {name})"
            for name, ident in callback_ids(app)
            if not _present(ident, strings, patterns)
        }
    )


def test_the_check_finds_a_mistyped_id_and_a_pattern_of_another_section():
    app = dash.Dash(__name__, suppress_callback_exceptions=True)
    layout = html.Div(
        [
            dcc.Input(id="misclassified-gold"),
            html.Div(id="misclassified-summary"),
            html.Button(id={"type": "open-sample", "section": "samples", "index": 4}),
            dcc.Store(id={"type": "grid", "name": "loss-words"}),
        ]
    )
    app.callback(Output("misclassified-summary", "children"), Input("misclassified-gold", "value"))(lambda v: v)
    app.callback(Output({"type": "grid", "name": MATCH}, "data"), Input({"type": "grid", "name": MATCH}, "id"))(
        lambda v: v
    )
    app.callback(
        Output("misclassified-summary", "title"),
        Input({"type": "open-sample", "section": "samples", "index": ALL}, "n_clicks"),
    )(lambda v: v)
    assert missing_ids(app, [layout]) == []

    app.callback(
        Output("misclassified-summary", "className"),
        Input("misclassifed-gold", "value"),  # a typo Dash would never report
        State({"type": "open-sample", "section": "review", "index": ALL}, "n_clicks"),  # no such buttons
        State({"type": "grid", "name": MATCH, "page": MATCH}, "id"),  # the grid ids have no "page"
    )(lambda *v: v)
    missing = missing_ids(app, [layout])
    assert len(missing) == 3
    assert missing[0].startswith('"misclassifed-gold" (in misclassified-summary.className')
    assert any('"section": "review"' in item for item in missing) and any('"page"' in item for item in missing)


@pytest.fixture(scope="module")
def root(tiny_cache, tmp_path_factory):
    """Two copies of the tiny cache: "tiny", and "copy" (the other cache Find duplicates compares with)."""
    from explainer.cache.own_slices import OwnSlice, save_slice, slices_path

    root = tmp_path_factory.mktemp("contract")
    for name in ("tiny", "copy"):
        shutil.copytree(tiny_cache, root / name)
    save_slice(slices_path(root / "tiny"), OwnSlice("mine", (0, 1, 2)))  # Slices lists it, with its buttons
    return root


def rendered(context, live) -> list:
    """Every layout the app renders: the page, each section's layout (default view and views that show
    more), and what callbacks render on demand (the inspector, probed texts, Activations' results, the
    leakage table)."""
    cache = context.registry.get("tiny")
    states = {
        "misclassified": [{"mis_level": "span"}],
        "embeddings": [{"emb_mode": "example"}, {"emb_sel": "box:-1e9,1e9,-1e9,1e9"}],
        "duplicates": [{"dup_threshold": "0.8"}],  # near duplicates: cards with buttons
        "data_checks": [{"chk_check": "normaliser_case"}],  # a check's examples: cards with buttons
        "slices": [{"sl_slice": "length=1"}, {"sl_own": "mine"}],  # a bucket's or own slice's examples: cards
        "compare": [{"vs": "copy"}],  # a pair: scores, counts as buttons, ranked examples
    }
    trees = [make_layout(context)]
    for section in context.sections:
        trees += [section.render(context, cache, state) for state in [{}, *states.get(section.key, [])]]
    sample = activations.open_sample(cache)
    trees += [
        render_inspector(inspected_example(cache, 0), types=cache.metrics["entity_types"])[1],
        probing.render_probe(probe(live, "John visited Paris"), labels=live.labels),
        activations.results(cache, layers=(0,), n_components=3, example_id=sample.example_ids[0]),
        duplicates.leak_block(context, cache, duplicates.DuplicatesView(other="copy")),
        conflict_view(cache),
    ]
    return trees


def conflict_view(cache):
    """The Review draft after another reviewer's decision refused a save (take theirs / save mine buttons)."""
    from explainer.app.components.review_view import draft_view
    from explainer.review.draft import Pending, with_conflict
    from explainer.review.session import new_draft

    draft = new_draft(cache, 0, {})
    theirs = {"reviewer": "ann", "revision": 1, "corrected": draft["gold"], "kind": "edit"}
    return draft_view(with_conflict(draft, theirs, Pending("accept_gold", draft["gold"])))


def test_every_callback_id_is_in_a_layout(root, live, tiny_cache_dynamics):
    from explainer.app.sections import data_map
    from explainer.cache.reader import open_cache

    app = create_app(Settings(cache=root))
    context = app.server.config["EXPLAINER_CONTEXT"]
    assert len(app.callback_map) > 30
    # the Data map draws its map only on a cache of the model's training data with dynamics
    with_map = data_map.layout(open_cache(tiny_cache_dynamics), {})
    assert missing_ids(app, [*rendered(context, live), with_map]) == []
