"""``create_app(settings)``: the Dash app over one cache or a root of caches.

Page-level wiring lives here: the URL is the single source of view state (cache, section as
``tab=<key>``, filters, selected sample). The navigation is a sidebar of links grouped by the question
the sections answer; a link is a real link (it can open in a new browser tab) whose query the browser
keeps in step with the URL. The content is rendered only for the active section and only when the
cache or the section changes; filters write to the URL without re-rendering the section.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import ALL, MATCH, Input, Output, State, dcc, html, no_update

from explainer.analysis.examples import example_view
from explainer.analysis.gridquery import RowRequestError, example_of_row_id, page_rows
from explainer.analysis.label_quality import read_label_quality
from explainer.app.caches import CacheRegistry
from explainer.app.components import grid as grids
from explainer.app.components.aligned import OPEN_TYPE, clicked_example
from explainer.app.components.attributions import register_callbacks as register_explain_callbacks
from explainer.app.components.clicks import clicked, fired
from explainer.app.components.inspector import (
    NavIds,
    listed_examples,
    navigation_bar,
    neighbours,
    render_inspector,
    render_paired_inspector,
)
from explainer.app.pairs import comparison, vs_key
from explainer.app.sections import load_sections
from explainer.app.sections.base import GROUPS, Section
from explainer.app.server import LOG, PAGE_ERROR_ID, callback_error_handler, configure_server, user_message
from explainer.app.settings import Settings
from explainer.app.state import int_param, parse_query, update_query
from explainer.cache.artefacts import Missing
from explainer.errors import ExplainerError

# A wheel carries the assets inside the package (setup.py); a checkout has them at its root.
PACKAGED_ASSETS = Path(__file__).resolve().parents[1] / "assets"
ASSETS = PACKAGED_ASSETS if PACKAGED_ASSETS.is_dir() else Path(__file__).resolve().parents[2] / "assets"
DEFAULT_TAB = "metrics"
SECTION_LINK = "section-link"
VS_PICKER = "vs-picker"  # the second cache (``vs`` in the URL) that Compare compares with
COMPARE_TAB = "compare"

# The links' hrefs follow the URL in the browser: each is the current query with its own section, without
# the other sections' view settings (a link to Inspect does not carry metrics_norm). Which link is active
# follows the route the server resolved (an unknown tab shows the default).
NAVIGATION_JS = """
function (search, route) {
    var links = dash_clientside.callback_context.outputs_list[0];
    var active = route ? route.tab : null;
    var prefixes = %s;
    return [
        links.map(function (link) {
            var query = new URLSearchParams(search || "");
            Array.from(query.keys()).forEach(function (key) {
                Object.keys(prefixes).forEach(function (section) {
                    if (section !== link.id.section && key.indexOf(prefixes[section] + "_") === 0) {
                        query.delete(key);
                    }
                });
            });
            query.set("tab", link.id.section);
            return "?" + query.toString();
        }),
        links.map(function (link) { return link.id.section === active; })
    ];
}
"""


def navigation_js(sections: list[Section]) -> str:
    """NAVIGATION_JS with each section's URL view prefix (``metrics`` -> ``metrics_``...)."""
    prefixes = {section.key: section.view.PREFIX for section in sections if section.view is not None}
    return NAVIGATION_JS % json.dumps(prefixes, sort_keys=True)


@dataclass
class AppContext:
    """What callbacks share: read-only after start-up, so safe across gunicorn threads."""

    settings: Settings
    registry: CacheRegistry
    sections: list[Section]

    def cache(self, search_or_state):
        """The cache the URL names (or the default one); raises ExplainerError with what to do."""
        state = parse_query(search_or_state) if isinstance(search_or_state, (str, type(None))) else search_or_state
        return self.registry.get(state.get("cache"))


def error_alert(error: Exception, *, cache_root=None) -> dbc.Alert:
    """What a user sees when a view cannot be shown: the reason and what to do, no stack trace or path."""
    return dbc.Alert(user_message(error, cache_root=cache_root), color="danger", className="m-3")


def headline(cache) -> list:
    numbers = cache.manifest.get("headline", {})
    counts = cache.manifest.get("counts", {})
    items = [
        ("entity F1", f"{numbers.get('entity_f1', 0):.3f}"),
        ("examples", f"{counts.get('examples', 0):,}"),
        ("span errors", f"{numbers.get('span_errors', 0):,}"),
    ]
    return [
        html.Span(
            [html.Small(label + " ", className="text-white-50"), html.Strong(value)],
            className="me-4 text-white text-nowrap",
            id=f"headline-{label.replace(' ', '-')}",
        )
        for label, value in items
    ]


def section_link_id(key) -> dict:
    """The id of a section's link in the navigation (``key`` may be a wildcard)."""
    return {"type": SECTION_LINK, "section": key}


def navigation(sections: list[Section]) -> html.Nav:
    """The sidebar: a heading per group (its question as a tooltip), then the group's sections."""
    blocks = []
    for group in GROUPS:
        members = [section for section in sections if section.group == group]
        if members:
            links = [
                dbc.NavLink(section.label, id=section_link_id(section.key), href=f"?tab={section.key}")
                for section in members
            ]
            blocks.append(
                html.Div(
                    [
                        html.Div(group.label, className="nav-group-label", title=group.question),
                        dbc.Nav(links, vertical=True, pills=True),
                    ],
                    className="nav-group",
                    id=f"nav-group-{group.key}",
                )
            )
    return html.Nav(blocks, id="nav", className="section-nav")


def inspected_example(cache, example_id: int):
    """What the inspector shows of ``example_id`` (None: no such example)."""
    scores = read_label_quality(cache)
    rows = {
        name: cache.example_rows(name, example_id) for name in ("examples", "words", "subwords", "spans", "span_errors")
    }
    return example_view(**rows, example_id=example_id, label_quality=scores.words if scores else None)


def vs_picker(context: AppContext, route, options, value):
    """The second picker's options (every cache but the one open) and value (the URL's ``vs``)."""
    if not route:
        return no_update, no_update
    choices = [option for option in context.registry.options() if option["value"] != route["cache"]]
    wanted = route.get("vs")
    return (no_update if choices == options else choices), (no_update if wanted == value else wanted)


def vs_to_query(search, key):
    """The URL with the second cache picked (or cleared); unchanged when it already says so."""
    state = parse_query(search)
    if (key or None) == vs_key(state):
        return no_update
    return update_query(search, vs=key or None, sample=None, word=None)


def paired_inspector(context: AppContext, cache, state, sample: int):
    """The inspector of ``sample`` in the Compare section: gold, A's and B's predictions, changes marked."""
    other = context.registry.get(vs_key(state))
    transitions = comparison(cache, other).transitions
    ids = transitions["example_id"].to_numpy()
    rows = transitions.iloc[ids.searchsorted(sample, "left") : ids.searchsorted(sample, "right")]
    types = sorted(set(cache.metrics.get("entity_types", [])) | set(other.metrics.get("entity_types", [])))
    return render_paired_inspector(
        inspected_example(cache, sample),
        inspected_example(other, sample),
        rows,
        types=types,
        names=(cache.path.name, other.path.name),
        highlight=int_param(state, "word"),
    )


def make_layout(context: AppContext):
    navbar = dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand(context.settings.title, className="me-4"),
                html.Div(
                    dcc.Dropdown(
                        id="cache-picker", options=[], clearable=False, placeholder="cache", style={"minWidth": "360px"}
                    ),
                    className="me-2",
                ),
                html.Div(
                    dcc.Dropdown(
                        id=VS_PICKER,
                        options=[],
                        clearable=True,
                        placeholder="compare with…",
                        style={"minWidth": "260px"},
                    ),
                    className="me-4",
                    title="a second cache of the same data: the Compare section compares its model (B) with this one (A)",
                ),
                html.Div(id="headline", className="d-flex flex-wrap"),
            ],
            fluid=True,
            className="flex-wrap row-gap-2",  # at 1024 px the headline goes below the pickers, not off the page
        ),
        color="dark",
        dark=True,
    )
    inspector = dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(id="inspector-title")),
            dbc.ModalBody([navigation_bar(), html.Div(id="inspector-body")]),
        ],
        id="inspector",
        size="xl",
        scrollable=True,
        is_open=False,
    )
    return html.Div(
        [
            dcc.Location(id="url", refresh=False),
            dcc.Store(id="route"),
            dcc.Store(id=NavIds.LIST),
            navbar,
            html.Div(
                [
                    navigation(context.sections),
                    html.Main(
                        [
                            dbc.Alert(
                                id=PAGE_ERROR_ID, color="danger", is_open=False, dismissable=True, className="mt-2"
                            ),
                            dcc.Loading(html.Div(id="tab-content", className="pt-3"), delay_show=300),
                        ],
                        className="page-main",
                    ),
                ],
                className="page-body",
            ),
            inspector,
        ]
    )


def create_app(settings: Settings | None = None, *, sections: list[Section] | None = None) -> dash.Dash:
    """The app for ``settings`` (default: from the environment) with ``sections`` (default: every one).
    ``app.server`` is the Flask app."""
    settings = settings or Settings.from_env()
    sections = load_sections() if sections is None else sections
    context = AppContext(settings=settings, registry=CacheRegistry(settings.cache), sections=sections)
    app = dash.Dash(
        __name__,
        title=settings.title,
        assets_folder=str(ASSETS),
        serve_locally=True,
        requests_pathname_prefix=settings.url_prefix,
        routes_pathname_prefix=settings.routes_prefix,
        suppress_callback_exceptions=True,
        update_title=None,  # type: ignore[arg-type]  # None keeps the title while updating (Dash's docs)
        on_error=callback_error_handler(settings),
    )
    app.layout = lambda: make_layout(context)
    app.server.config["EXPLAINER_CONTEXT"] = context
    register_page_callbacks(app, context)
    register_explain_callbacks(app, context)  # the inspector's Explain panel works without the Probing tab
    for section in context.sections:
        if section.register:
            section.register(app, context)
    configure_server(app, settings)  # last: the CSP hashes every inline script registered above
    return app


def review_link(context: AppContext, search: str | None, example_id: int) -> str | None:
    """The Review section showing ``example_id`` (None in an app without it)."""
    review = next((section for section in context.sections if section.key == "review"), None)
    return None if review is None else review.link(search, ex=example_id)


def register_page_callbacks(app: dash.Dash, context: AppContext) -> None:
    sections = {s.key: s for s in context.sections}

    @app.callback(
        Output("route", "data"),
        Output("cache-picker", "options"),
        Output("cache-picker", "value"),
        Input("url", "search"),
        State("route", "data"),
    )
    def route_from_url(search, route):
        state = parse_query(search)
        tab = state.get("tab") if state.get("tab") in sections else DEFAULT_TAB
        key = state.get("cache") or context.registry.default_key()
        new_route = {"cache": key, "tab": tab}
        if vs_key(state):  # only when set: a route without a second cache is the same as before Compare
            new_route["vs"] = vs_key(state)
        if route == new_route:
            return no_update, no_update, no_update
        return new_route, context.registry.options(), key

    @app.callback(
        Output(VS_PICKER, "options"),
        Output(VS_PICKER, "value"),
        Input("route", "data"),
        State(VS_PICKER, "options"),
        State(VS_PICKER, "value"),
    )
    def vs_picker_from_route(route, options, value):
        return vs_picker(context, route, options, value)

    app.clientside_callback(
        navigation_js(context.sections),
        Output(section_link_id(ALL), "href"),
        Output(section_link_id(ALL), "active"),
        Input("url", "search"),
        Input("route", "data"),
    )

    @app.callback(
        Output("tab-content", "children"),
        Output("headline", "children"),
        Input("route", "data"),
        State("url", "search"),
    )
    def render_tab(route, search):
        if not route:
            return no_update, no_update
        state = parse_query(search)
        try:
            cache = context.registry.get(route["cache"])
            return sections[route["tab"]].render(context, cache, state), headline(cache)
        except dash.exceptions.PreventUpdate:
            raise
        except Exception as error:  # noqa: BLE001 (one broken view must not break the page)
            return error_alert(error, cache_root=context.settings.cache), []

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input("cache-picker", "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def cache_to_url(key, search):
        state = parse_query(search)
        if not key or state.get("cache", context.registry.default_key()) == key:
            return no_update
        return update_query(search, cache=key, sample=None, word=None)

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input(VS_PICKER, "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def vs_to_url(key, search):
        return vs_to_query(search, key)

    @app.callback(
        Output("inspector", "is_open"),
        Output("inspector-title", "children"),
        Output("inspector-body", "children"),
        Input("url", "search"),
        State("inspector", "is_open"),
        State("inspector-title", "children"),
    )
    def open_inspector(search, is_open, title):
        state = parse_query(search)
        sample = int_param(state, "sample")
        if sample is None:
            return (False, no_update, no_update) if is_open else (no_update, no_update, no_update)
        try:
            cache = context.cache(state)
            if state.get("tab") == COMPARE_TAB and vs_key(state):
                title_text, body = paired_inspector(context, cache, state, sample)
            else:
                view = inspected_example(cache, sample)
                found = cache.findings()
                title_text, body = render_inspector(
                    view,
                    types=cache.metrics.get("entity_types", []),
                    highlight=int_param(state, "word"),
                    findings=None if isinstance(found, Missing) or view is None else found.of_example(sample),
                    review_href=review_link(context, search, sample),
                )
        except Exception as error:  # noqa: BLE001 (a missing or unreadable file: say so in the modal)
            return True, "Cannot open the example", error_alert(error, cache_root=context.settings.cache)
        if is_open and title == title_text and "word" not in state:
            return no_update, no_update, no_update
        return True, title_text, body

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input("inspector", "is_open"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def close_inspector(is_open, search):
        if is_open or "sample" not in parse_query(search):
            return no_update
        return update_query(search, sample=None, word=None)

    @app.callback(
        Output(grids.grid_id(MATCH), "getRowsResponse"),
        Input(grids.grid_id(MATCH), "getRowsRequest"),
        State("url", "search"),
    )
    def serve_grid_rows(request, search):
        name = dash.ctx.outputs_list["id"]["name"]  # triggered_id is None on the grid's first request
        fn = grids.source(name)
        if fn is None or request is None:
            return no_update
        state = parse_query(search)
        try:
            return page_rows(fn(context.cache(state), state), request)
        except (ExplainerError, OSError) as error:
            if isinstance(error, RowRequestError):  # a client's fault (the 400 of a callback): worth a log line
                LOG.warning("refused a request of grid %r: %s", name, error)
            dash.set_props(
                PAGE_ERROR_ID, {"children": user_message(error, cache_root=context.settings.cache), "is_open": True}
            )
            return {"rowData": [], "rowCount": 0}

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input(grids.grid_id(ALL), "cellClicked"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def grid_click_opens_inspector(_clicks, search):
        click = fired(dash.ctx.triggered, prop="cellClicked", type=grids.GRID_TYPE)  # grids appearing are no click
        if click is None or not isinstance(click.value, dict):
            return no_update
        example_id, word_index = example_of_row_id(click.value.get("rowId"))
        if example_id is None or grids.source(click.id["name"]) is None:
            return no_update
        return update_query(search, sample=example_id, word=word_index)

    @app.callback(
        Output(grids.download_id(MATCH), "data"),
        Input(grids.csv_button_id(MATCH), "n_clicks"),
        State(grids.grid_id(MATCH), "getRowsRequest"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def export_grid_csv(n_clicks, request, search):
        if not n_clicks:
            return no_update
        try:
            return export_csv(context, dash.ctx.outputs_list["id"]["name"], request, search)
        except (ExplainerError, OSError) as error:
            dash.set_props(
                PAGE_ERROR_ID, {"children": user_message(error, cache_root=context.settings.cache), "is_open": True}
            )
            return no_update

    @app.callback(
        Input(grids.client_csv_id(ALL), "n_clicks"),
        prevent_initial_call=True,
    )
    def export_client_grid_csv(_clicks):
        button = clicked(dash.ctx.triggered, type=grids.CLIENT_CSV_TYPE)  # buttons appearing are no click
        if isinstance(button, dict):
            dash.set_props(button["grid"], {"exportDataAsCsv": True})

    register_inspector_navigation(app, context)


def export_csv(context: AppContext, name: str, request: dict | None, search: str | None) -> dict | None:
    """Grid ``name``'s rows as its filter and sort select them, as a CSV download (None: no such grid)."""
    fn = grids.source(name)
    if fn is None:
        return None
    state = parse_query(search)
    rows = grids.csv_rows(fn(context.cache(state), state), request)
    return dcc.send_data_frame(rows.to_csv, f"{name}.csv", index=False)


def grid_list(frame, request: dict | None) -> list[int]:
    """The examples of a grid's rows as the grid shows them (its filter and sort), in order."""
    if "example_id" not in frame.columns:
        return []
    return listed_examples(grids.csv_rows(frame, request)["example_id"].to_numpy())


def register_inspector_navigation(app: dash.Dash, context: AppContext) -> None:
    """The inspector remembers the list it was opened from (a grid's rows, a page of cards) and moves through it."""

    @app.callback(
        Output(NavIds.LIST, "data"),
        Input(grids.grid_id(ALL), "cellClicked"),
        State(grids.grid_id(ALL), "getRowsRequest"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def remember_grid_list(_clicks, requests, search):
        click = fired(dash.ctx.triggered, prop="cellClicked", type=grids.GRID_TYPE)  # grids appearing are no click
        if click is None:
            return no_update
        index = [item["id"] for item in dash.ctx.inputs_list[0]].index(click.id)
        fn = grids.source(click.id["name"])
        if fn is None:
            return no_update
        state = parse_query(search)
        try:
            return {"ids": grid_list(fn(context.cache(state), state), requests[index])}
        except (ExplainerError, OSError):
            return None

    @app.callback(
        Output(NavIds.LIST, "data", allow_duplicate=True),
        Input({"type": OPEN_TYPE, "section": ALL, "index": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def remember_cards(_clicks):
        if clicked_example(dash.ctx.triggered) is None:  # new cards appearing is no click
            return no_update
        return {"ids": listed_examples(item["id"]["index"] for item in dash.ctx.inputs_list[0])}

    @app.callback(
        Output(NavIds.PREV, "disabled"),
        Output(NavIds.NEXT, "disabled"),
        Output(NavIds.POSITION, "children"),
        Output(NavIds.RAW, "href"),
        Output(NavIds.REVIEW, "href"),
        Input("url", "search"),
        Input(NavIds.LIST, "data"),
    )
    def show_navigation(search, listing):
        return navigation_state(context, search, listing)

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input(NavIds.PREV, "n_clicks"),
        Input(NavIds.NEXT, "n_clicks"),
        State(NavIds.LIST, "data"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def step(_previous, _next, listing, search):
        before, after, _ = neighbours((listing or {}).get("ids"), int_param(parse_query(search), "sample"))
        target = after if dash.ctx.triggered_id == NavIds.NEXT else before
        return no_update if target is None else update_query(search, sample=target, word=None)


def navigation_state(context: AppContext, search: str | None, listing: dict | None) -> tuple:
    """Previous/next disabled, the position text, and the Raw data and Review links of the inspected example."""
    sample = int_param(parse_query(search), "sample")
    ids = (listing or {}).get("ids") or []
    before, after, position = neighbours(ids, sample)
    text = f"{position:,} of {len(ids):,} in the list it was opened from" if position else ""
    sections = {section.key: section for section in context.sections}
    links = []
    for key, field in (("raw_data", "id"), ("review", "ex")):
        section = sections.get(key)
        links.append(section.link(search, **{field: sample}) if section and sample is not None else "")
    return before is None, after is None, text, *links
