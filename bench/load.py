"""Load test: concurrent simulated users drive the app through Dash's callback endpoint.

Each user is a thread with its own HTTP session that sends the JSON the browser sends to
``_dash-update-component`` (format captured from Chromium: ``output``, ``outputs``, ``inputs``,
``state``, ``changedPropIds``), in a realistic mix:

- ``page``: load the page shell (index, ``_dash-layout``, ``_dash-dependencies``);
- ``tab``: switch tab (route from the URL, then render the tab);
- ``filter``: a page of the Inspect grid, filtered and sorted as the grid asks for it;
- ``inspect``: open the sample inspector on the user's own example;
- ``probe``: live probing, when the app has a Probing section (``PROBE_ACTION`` is the hook).

Every user asks for a different example and checks that the answer names it, so an answer
delivered to the wrong user (or mixed between threads) is counted. The run stops by itself after
``--duration`` seconds and prints latency percentiles per action::

    python bench/load.py --url http://127.0.0.1:8080/tools/ner/          # an existing deployment
    python bench/load.py --cache CACHE_ROOT [--strip-prefix]             # starts nginx + 2 workers

Loopback only: ``--url`` must point at 127.0.0.1 or localhost.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import requests

CALLBACK = "_dash-update-component"
MIX = {"page": 0.05, "tab": 0.35, "filter": 0.30, "inspect": 0.30}
# Hook for live probing: a function (client, user) -> (ok, detail) added to MIX when the app has it.
PROBE_ACTION = None


class LoadError(RuntimeError):
    pass


@dataclass
class Outcome:
    action: str
    seconds: float
    status: int
    ok: bool
    detail: str = ""


@dataclass
class Report:
    users: int
    duration: float
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def server_errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status >= 500 or o.status == 0]

    @property
    def client_errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if 400 <= o.status < 500]

    @property
    def mixups(self) -> list[Outcome]:
        """Answers that did not name what their user asked for."""
        return [o for o in self.outcomes if o.status == 200 and not o.ok]

    def table(self) -> str:
        by_action = defaultdict(list)
        for outcome in self.outcomes:
            by_action[outcome.action].append(outcome.seconds * 1000)
        percentiles = (50, 90, 95, 99)
        row = lambda name, values: (
            f"| {name} | {len(values)} | "
            + " | ".join(f"{_percentile(values, q):.0f}" for q in percentiles)
            + f" | {values[-1]:.0f} |"
        )
        lines = [
            f"{self.users} users, {self.duration:.0f} s, {len(self.outcomes)} requests "
            f"({len(self.outcomes) / self.duration:.1f}/s); 5xx/failed: {len(self.server_errors)}, "
            f"4xx: {len(self.client_errors)}, mixed-up answers: {len(self.mixups)}",
            "",
            "| action | requests | p50 ms | p90 ms | p95 ms | p99 ms | max ms |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [row(action, sorted(by_action[action])) for action in sorted(by_action)]
        every = sorted(o.seconds * 1000 for o in self.outcomes)
        if every:
            lines.append(row("all", every))
        return "\n".join(lines)


def _percentile(sorted_values: list[float], q: float) -> float:
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[int(q) - 1]


class DashClient:
    """Sends callback requests the way the browser does, with the app's own callback signatures."""

    def __init__(self, base_url: str, *, timeout: float = 30.0):
        self.base = base_url if base_url.endswith("/") else base_url + "/"
        self.session = requests.Session()
        self.timeout = timeout
        self.outputs: dict[str, str] = {}

    def load_dependencies(self) -> list[dict]:
        """The app's callbacks; remembers each one's ``output`` string (it may carry a hash suffix)."""
        response = self.session.get(self.base + "_dash-dependencies", timeout=self.timeout)
        response.raise_for_status()
        dependencies = response.json()
        self.outputs = {dep["output"]: dep["output"] for dep in dependencies}
        return dependencies

    def output_of(self, *parts: str) -> str:
        """The registered ``output`` string naming every one of ``parts`` (e.g. 'tab-content.children')."""
        for output in self.outputs:
            if all(part in output for part in parts):
                return output
        raise LoadError(f"the app has no callback with outputs {parts}; has the page changed?")

    def call(self, output: str, outputs, inputs: list[dict], state: list[dict]) -> requests.Response:
        changed = [_prop_id(item) for item in inputs]
        body = {
            "output": output,
            "outputs": outputs,
            "inputs": inputs,
            "changedPropIds": changed,
            "parsedChangedPropsIds": changed,
            "state": state,
        }
        return self.session.post(self.base + CALLBACK, json=body, timeout=self.timeout)

    def click(self, callback: dict, button: str, values: dict) -> requests.Response:
        """Click ``button`` (a fixed id among ``callback``'s inputs) as the browser does: the other inputs unset,
        pattern-matched inputs without buttons on the page, the states from ``values`` (by component id)."""
        inputs: list[dict | list] = []
        for item in callback["inputs"]:
            if item["id"].startswith("{"):  # a pattern (ALL): no such buttons on the page
                inputs.append([])
            else:
                inputs.append({**item, "value": 1 if item["id"] == button else None})
        state = [{**item, "value": values[item["id"]]} for item in callback["state"]]
        outputs = []
        for part in callback["output"].strip(".").split("..."):
            component, _, prop = part.rpartition(".")
            outputs.append({"id": component, "property": prop})
        body = {
            "output": callback["output"],
            "outputs": outputs,
            "inputs": inputs,
            "changedPropIds": [f"{button}.n_clicks"],
            "state": state,
        }
        return self.session.post(self.base + CALLBACK, json=body, timeout=self.timeout)

    # The page-level callbacks of explainer.app.factory, as the browser calls them.

    def route(self, search: str) -> requests.Response:
        return self.call(
            self.output_of("route.data", "cache-picker.value"),
            [
                {"id": "route", "property": "data"},
                {"id": "cache-picker", "property": "options"},
                {"id": "cache-picker", "property": "value"},
            ],
            [{"id": "url", "property": "search", "value": search}],
            [{"id": "route", "property": "data"}],
        )

    def render_tab(self, route: dict, search: str) -> requests.Response:
        return self.call(
            self.output_of("tab-content.children"),
            [{"id": "tab-content", "property": "children"}, {"id": "headline", "property": "children"}],
            [{"id": "route", "property": "data", "value": route}],
            [{"id": "url", "property": "search", "value": search}],
        )

    def inspector(self, search: str) -> requests.Response:
        return self.call(
            self.output_of("inspector.is_open", "inspector-body.children"),
            [
                {"id": "inspector", "property": "is_open"},
                {"id": "inspector-title", "property": "children"},
                {"id": "inspector-body", "property": "children"},
            ],
            [{"id": "url", "property": "search", "value": search}],
            [
                {"id": "inspector", "property": "is_open", "value": False},
                {"id": "inspector-title", "property": "children", "value": None},
            ],
        )

    def grid_rows(self, grid: str, request: dict, search: str) -> requests.Response:
        grid_id = {"name": grid, "type": "grid"}
        return self.call(
            self.output_of("getRowsResponse"),
            {"id": grid_id, "property": "getRowsResponse"},
            [{"id": grid_id, "property": "getRowsRequest", "value": request}],
            [{"id": "url", "property": "search", "value": search}],
        )


def _prop_id(item: dict) -> str:
    component = item["id"]
    if isinstance(component, dict):
        component = json.dumps(component, sort_keys=True, separators=(",", ":"))
    return f"{component}.{item['property']}"


def tab_keys(layout: dict) -> list[str]:
    """The section keys of the navigation's links in the page layout (``_dash-layout``)."""
    keys = []

    def walk(node):
        if isinstance(node, dict):
            props = node.get("props")
            ident = props.get("id") if isinstance(props, dict) else None
            if isinstance(ident, dict) and ident.get("type") == "section-link":
                keys.append(ident["section"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(layout)
    return keys


class User:
    """One simulated user: a session, an example of their own, and a random walk over the actions."""

    def __init__(
        self, index: int, base_url: str, *, cache_key: str, tabs: list[str], n_examples: int, seed: int, think: float
    ):
        self.index = index
        self.client = DashClient(base_url)
        self.cache_key = cache_key
        self.tabs = tabs
        self.example = index % n_examples
        self.rng = random.Random(seed * 1000 + index)
        self.think = think

    def search(self, **extra) -> str:
        query = {"cache": self.cache_key, **extra}
        return "?" + "&".join(f"{key}={value}" for key, value in query.items())

    def run(self, stop_at: float, outcomes: list[Outcome], lock: threading.Lock) -> None:
        self.client.load_dependencies()
        actions = dict(MIX)
        if PROBE_ACTION is not None:
            actions["probe"] = 0.1
        names, weights = list(actions), list(actions.values())
        while time.monotonic() < stop_at:
            action = self.rng.choices(names, weights)[0]
            started = time.perf_counter()
            try:
                status, ok, detail = getattr(self, f"do_{action}")()
            except requests.RequestException as error:
                status, ok, detail = 0, False, f"{type(error).__name__}: {error}"
            outcome = Outcome(action, time.perf_counter() - started, status, ok, detail)
            with lock:
                outcomes.append(outcome)
            if self.think:
                time.sleep(self.rng.uniform(0, self.think))

    def do_page(self):
        for path in ("", "_dash-layout", "_dash-dependencies"):
            response = self.client.session.get(self.client.base + path, timeout=self.client.timeout)
            if response.status_code != 200:
                return response.status_code, False, f"GET {path}"
        return 200, True, ""

    def do_tab(self):
        tab = self.rng.choice(self.tabs)
        search = self.search(tab=tab)
        response = self.client.route(search)
        if response.status_code != 200:
            return response.status_code, False, "route"
        route = response.json()["response"]["route"]["data"]
        if route != {"cache": self.cache_key, "tab": tab}:
            return 200, False, f"asked for tab {tab}, routed to {route}"
        response = self.client.render_tab(route, search)
        if response.status_code != 200:
            return response.status_code, False, f"render {tab}"
        return 200, "tab-content" in response.json()["response"], tab

    def do_filter(self):
        # The grid asks for the user's own example by id, plus a sorted, text-filtered page.
        if self.rng.random() < 0.5:
            request = {
                "startRow": 0,
                "endRow": 50,
                "sortModel": [],
                "filterModel": {"example_id": {"filterType": "number", "type": "equals", "filter": self.example}},
            }
            response = self.client.grid_rows("inspect", request, self.search(tab="inspect"))
            if response.status_code != 200:
                return response.status_code, False, "grid by id"
            rows = _grid_response(response)["rowData"]
            return 200, [row["example_id"] for row in rows] == [self.example], f"grid rows {len(rows)}"
        word = self.rng.choice(["Paris", "John", "the", "Google", "said"])
        request = {
            "startRow": 0,
            "endRow": 50,
            "sortModel": [{"colId": "total_loss", "sort": "desc"}],
            "filterModel": {"text": {"filterType": "text", "type": "contains", "filter": word}},
        }
        response = self.client.grid_rows("inspect", request, self.search(tab="inspect"))
        if response.status_code != 200:
            return response.status_code, False, "grid by text"
        rows = _grid_response(response)["rowData"]
        ok = all(word.lower() in row["text"].lower() for row in rows)
        losses = [row["total_loss"] for row in rows]
        return 200, ok and losses == sorted(losses, reverse=True), f"text {word!r}"

    def do_inspect(self):
        response = self.client.inspector(self.search(tab=self.rng.choice(self.tabs), sample=self.example))
        if response.status_code != 200:
            return response.status_code, False, "inspector"
        title = response.json()["response"]["inspector-title"]["children"]
        return 200, title == f"Example {self.example}", f"title {title!r}"

    def do_probe(self):
        return PROBE_ACTION(self.client, self)


def _grid_response(response: requests.Response) -> dict:
    payload = response.json()["response"]
    return next(iter(payload.values()))["getRowsResponse"]


def discover(base_url: str) -> dict:
    """The cache key, the tabs and the number of examples, asked of the app as a browser would."""
    client = DashClient(base_url)
    client.load_dependencies()
    layout = client.session.get(client.base + "_dash-layout", timeout=30).json()
    tabs = tab_keys(layout)
    route = client.route("")
    route.raise_for_status()
    key = route.json()["response"]["cache-picker"]["value"]
    if not key:
        raise LoadError(f"the app at {base_url} serves no cache")
    rows = client.grid_rows(
        "inspect", {"startRow": 0, "endRow": 1, "sortModel": [], "filterModel": {}}, f"?cache={key}&tab=inspect"
    )
    rows.raise_for_status()
    return {"cache_key": key, "tabs": tabs, "n_examples": _grid_response(rows)["rowCount"]}


def run_load(base_url: str, *, users: int = 20, duration: float = 20.0, think: float = 0.05, seed: int = 0) -> Report:
    """Run ``users`` simulated users against ``base_url`` for ``duration`` seconds.

    Parameters
    ----------
    base_url : str
        The app's public root, e.g. ``http://127.0.0.1:8080/tools/ner/`` (loopback only).
    users, duration, think, seed
        Concurrent users, seconds of load, the most seconds a user pauses between actions, and
        the seed of the users' choices.

    Returns
    -------
    Report
    """
    host = urlparse(base_url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise LoadError(f"{base_url}: the load test only runs against a loopback address")
    facts = discover(base_url)
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    people = [User(i, base_url, seed=seed, think=think, **facts) for i in range(users)]
    stop_at = time.monotonic() + duration
    threads = [threading.Thread(target=user.run, args=(stop_at, outcomes, lock), daemon=True) for user in people]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 120)
    return Report(users=users, duration=time.monotonic() - started, outcomes=outcomes)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="the app's public root URL on loopback")
    target.add_argument("--cache", type=Path, help="start nginx + gunicorn on this cache (or root) and load it")
    parser.add_argument("--strip-prefix", action="store_true", help="with --cache: the proxy strips the prefix")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--think", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results") / "load.md")
    args = parser.parse_args(argv)
    if args.url:
        report = run_load(args.url, users=args.users, duration=args.duration, think=args.think)
        setup = f"against {args.url}"
    else:
        sys.path.insert(0, str(Path(__file__).parent))
        from stack import Gunicorn, Nginx

        with (
            Gunicorn(cache=args.cache, workers=args.workers, strips_prefix=args.strip_prefix) as app,
            Nginx(upstream_port=app.port, strips_prefix=args.strip_prefix) as proxy,
        ):
            report = run_load(proxy.url, users=args.users, duration=args.duration, think=args.think)
        setup = f"nginx -> gunicorn ({args.workers} workers x 4 threads), prefix {'stripped' if args.strip_prefix else 'passed through'}"
    text = f"# Load test\n\n{setup}\n\n{report.table()}\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    for outcome in (report.server_errors + report.mixups)[:10]:
        print(f"FAILED {outcome.action}: status {outcome.status} {outcome.detail}", file=sys.stderr)
    return 1 if report.server_errors or report.mixups else 0


if __name__ == "__main__":
    sys.exit(main())
