"""App latency and worker memory on caches of ~250k and ~1M subwords, over HTTP (issues 3 and 10).

Builds (once, kept under ``--work``) a small config-built BERT and two caches: CoNLL-2003 train
(14,041 examples, ~278k subwords) and CoNLL-2003 train repeated 4 times (~1.1M subwords); the
model's predictions are random, the sizes are real. For each cache it starts gunicorn (2 workers x 4
threads, ``gunicorn.conf.py``) behind nginx (bench/stack.py), waits for the workers' warm-up, then
plays rounds in which one user sends each section's main callbacks once, as the browser sends them
(tab render, grid pages with filters and sorts, controls, the inspector), and reports p50/p95 per
callback and each worker's memory: RSS, split into anonymous (the heap: frames in memory) and file
(memory-mapped arrays and Parquet, libraries; shared with the page cache), and USS (private pages).
Sections that the app does not have are skipped; grids found in any tab are paged too.

Usage: python bench/app.py [--work DIR] [--rounds 30] [--sizes 250k,1m]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "conll2003"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

GOALS_MS = {"250k": 150, "1m": 400}  # p95 per callback (issues 3 and 10)
MEMORY_GOAL_MB = 600  # per worker at 1M subwords (issue 10)
CACHES = {"250k": ("conll-train", 1), "1m": ("conll-train-x4", 4)}  # name, repeats of CoNLL-2003 train
VS_CACHE = "conll-train-b"  # beside the 250k cache: the same data by a related model, Compare's B (issue 21)


def load_bench(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- caches -------------------------------------------------------------------------------------


def ensure_cache(model: Path, work: Path, size: str) -> Path:
    """The cache for ``size`` under ``work/caches-<size>/``, built with ``explainer build`` if missing."""
    name, repeats = CACHES[size]
    out = work / f"caches-{size}" / name
    if (out / "manifest.json").is_file():
        return out
    data = DATA / "train.txt"
    if repeats > 1:
        data = work / f"train-x{repeats}.conll"
        if not data.is_file():
            text = (DATA / "train.txt").read_text(encoding="utf-8")
            data.write_text("\n".join([text] * repeats), encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "explainer.cli",
        "build",
        "--model",
        str(model),
        "--dataset",
        str(data),
        "--out",
        str(out),
        "--batch-size",
        "64",
        "--projection",
        "pca",
    ]
    print("building:", " ".join(command), file=sys.stderr)
    subprocess.run(command, check=True, cwd=ROOT)
    return out


def ensure_vs_cache(model: Path, work: Path, size: str) -> str | None:
    """The key of a second cache of the 250k data (bench/compare.py's noisy copy of ``model``, the optional
    analyses off), built if missing; None at other sizes."""
    if size != "250k":
        return None
    out = work / f"caches-{size}" / VS_CACHE
    if (out / "manifest.json").is_file():
        return VS_CACHE
    model_b = work / "model-b"
    if not (model_b / "config.json").is_file():
        load_bench("compare").noisy_copy(model, model_b)
    command = [sys.executable, "-m", "explainer.cli", "build", "--model", str(model_b), "--dataset"]
    command += [str(DATA / "train.txt"), "--out", str(out), "--batch-size", "64", "--projection", "none"]
    command += ["--label-quality", "none", "--findings", "none", "--activations-sample", "0"]
    print("building:", " ".join(command), file=sys.stderr)
    subprocess.run(command, check=True, cwd=ROOT)
    return VS_CACHE


# --- memory of a process (Linux /proc) -----------------------------------------------------------


def memory_mb(pid: int) -> dict[str, float]:
    """RSS and its anonymous/file parts (/proc/PID/status); USS and PSS (/proc/PID/smaps_rollup)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            values[key] = int(rest.split()[0]) / 1024
    try:
        rollup = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, _, rest = line.partition(":")
            rollup[key] = int(rest.split()[0]) / 1024
        values["USS"] = rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)
        values["PSS"] = rollup.get("Pss", 0)
    except OSError:
        pass
    return values


def resident_by_mapping(pid: int, top: int = 10) -> list[tuple[str, float]]:
    """The ``top`` mappings of a process by resident MB (/proc/PID/smaps), files by name (the cache's
    files by their name in the cache), anonymous memory as one row: what the RSS is made of."""
    sizes: dict[str, float] = defaultdict(float)
    name = "[anonymous]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split(maxsplit=5)
        if head and re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", head[0]):
            path = head[5] if len(head) > 5 else ""
            name = path if path.startswith("/") else "[anonymous]"
            if "/site-packages/" in name or ".so" in Path(name).name or name.startswith(("/usr/", "/lib")):
                name = "[libraries]"
        elif line.startswith("Rss:"):
            sizes[name] += int(head[1]) / 1024
    return sorted(sizes.items(), key=lambda item: -item[1])[:top]


def mapping_table(pid: int) -> str:
    lines = ["| mapping | resident MB |", "|---|---:|"]
    lines += [
        f"| {Path(name).name if name.startswith('/') else name} | {mb:.0f} |" for name, mb in resident_by_mapping(pid)
    ]
    return "\n".join(lines)


def memory_table(snapshots: dict[str, list[dict]]) -> str:
    lines = [
        "| when | worker | RSS MB | anonymous MB | file-backed MB | USS MB | PSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for when, workers in snapshots.items():
        for index, values in enumerate(workers):
            lines.append(
                f"| {when} | {index + 1} | {values.get('VmRSS', 0):.0f} | {values.get('RssAnon', 0):.0f} | "
                f"{values.get('RssFile', 0):.0f} | {values.get('USS', 0):.0f} | {values.get('PSS', 0):.0f} |"
            )
    return "\n".join(lines)


# --- the callbacks of each section, as the browser sends them -------------------------------------


class Actions:
    """One user's requests: ``actions()`` lists (name, function) for the sections the app has."""

    def __init__(self, base_url: str, seed: int = 0, vs: str | None = None):
        from load import DashClient, tab_keys

        self.vs = vs  # a second cache of the same data: Compare's callbacks are timed on the pair
        self.count_ids: list[dict] = []  # Compare's transition count buttons, found in its first render
        self.confusion_labels: list[str] = []  # the labels of Compare's B − A confusion, found there too

        self.client = DashClient(base_url, timeout=120)
        dependencies = self.client.load_dependencies()
        self.dependencies = {dep["output"]: dep for dep in dependencies}
        layout = self.client.session.get(self.client.base + "_dash-layout", timeout=60).json()
        self.tabs = tab_keys(layout)
        route = self.client.route("")
        route.raise_for_status()
        self.key = route.json()["response"]["cache-picker"]["value"]
        self.rng = random.Random(seed)
        self.n_examples = self._grid(
            "inspect", {"startRow": 0, "endRow": 1, "sortModel": [], "filterModel": {}}, tab="inspect"
        )["rowCount"]
        self.grids: dict[str, str] = {}  # grid name -> the tab it is on (found in rendered tabs)
        self.exploring = True

    def search(self, **extra) -> str:
        return "?" + "&".join(f"{key}={value}" for key, value in {"cache": self.key, **extra}.items())

    def _call(self, *parts: str, inputs: list[dict], state: list[dict], changed: list[str] | None = None):
        """POST one callback whose registered output names every one of ``parts``; raise on failure."""
        output = self.client.output_of(*parts)
        outputs = []
        for item in output.strip(".").split("..."):
            component, _, prop = item.rpartition(".")
            outputs.append({"id": json.loads(component) if component.startswith("{") else component, "property": prop})
        from load import _prop_id

        changed = changed or [_prop_id(item) for item in inputs]
        body = {
            "output": output,
            "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": inputs,
            "changedPropIds": changed,
            "parsedChangedPropsIds": changed,
            "state": state,
        }
        response = self.client.session.post(
            self.client.base + "_dash-update-component", json=body, timeout=self.client.timeout
        )
        if response.status_code not in (200, 204):
            raise RuntimeError(f"{parts}: HTTP {response.status_code} {response.text[:200]}")
        return response.json() if response.status_code == 200 else {}

    def _grid(self, name: str, request: dict, **query) -> dict:
        response = self.client.grid_rows(name, request, self.search(**query))
        if response.status_code != 200:
            raise RuntimeError(f"grid {name}: HTTP {response.status_code}")
        return next(iter(response.json()["response"].values()))["getRowsResponse"]

    # Page-level callbacks.

    def tab(self, tab: str):
        search = self.search(tab=tab)
        route = self.client.route(search).json()["response"]["route"]["data"]
        response = self.client.render_tab(route, search)
        if response.status_code != 200:
            raise RuntimeError(f"tab {tab}: HTTP {response.status_code}")
        content = response.json()["response"]["tab-content"]["children"]
        if self.exploring:  # the first pass only: walking a big layout would be timed as the server's
            for name in _grid_names(content):
                self.grids.setdefault(name, tab)
            if tab == "slices":
                self.slice_bars, self.slice_types = _slice_controls(content)
        head = json.dumps(content)[:400]
        if "Alert" in head and "danger" in head:
            raise RuntimeError(f"tab {tab} shows an error: {head[:300]}")

    def inspector(self):
        example = self.rng.randrange(self.n_examples)
        response = self.client.inspector(self.search(tab="inspect", sample=example))
        title = response.json()["response"]["inspector-title"]["children"]
        if title != f"Example {example}":
            raise RuntimeError(f"inspector: asked for {example}, got {title!r}")

    # Section callbacks (each one what a click or a filter sends).

    def metrics_toggle(self):
        self._call(
            "metrics-confusion.figure",
            inputs=[
                {"id": "metrics-norm", "property": "value", "value": self.rng.random() < 0.5},
                {"id": "metrics-zero", "property": "value", "value": self.rng.random() < 0.5},
                {"id": "metrics-level", "property": "value", "value": self.rng.choice(["entity", "word"])},
            ],
            state=[{"id": "url", "property": "search", "value": self.search(tab="metrics")}],
        )

    def misclassified_filter(self):
        gold = self.rng.choice(["B-PER", "I-ORG", "B-LOC", "PER", "MISC", "O"])
        inputs = [
            {"id": f"misclassified-{name}", "property": "value", "value": value}
            for name, value in (
                ("level", "word"),
                ("category", None),
                ("type", None),
                ("gold", gold),
                ("pred", None),
                ("text", None),
            )
        ]
        self._call(
            "misclassified-summary.children",
            inputs=inputs,
            state=[{"id": "url", "property": "search", "value": self.search(tab="misclassified")}],
        )

    def slices_bar_click(self):
        """A click on a bar of one of the Slices charts: the bucket's detail (scores, link, example cards)."""
        attribute, bucket = self.rng.choice(self.slice_bars)
        attributes = sorted({name for name, _ in self.slice_bars})
        click = {"points": [{"customdata": [attribute, bucket, 0.0, 1.0, 1]}]}
        inputs = [
            [
                {
                    "id": {"type": "slices-chart", "attribute": name},
                    "property": "clickData",
                    "value": click if name == attribute else None,
                }
                for name in attributes
            ]
        ]
        from load import _prop_id

        self._call(
            "slices-detail.children",
            inputs=inputs,
            state=[{"id": "url", "property": "search", "value": self.search(tab="slices")}],
            changed=[_prop_id({"id": {"type": "slices-chart", "attribute": attribute}, "property": "clickData"})],
        )

    def slices_type(self):
        self._call(
            "slices-charts.children",
            inputs=[{"id": "slices-type", "property": "value", "value": self.rng.choice(self.slice_types)}],
            state=[{"id": "url", "property": "search", "value": self.search(tab="slices")}],
        )

    def grid_page(self, name: str, query: dict, request: dict):
        answer = self._grid(name, request, **query)
        if answer["rowCount"] and not answer["rowData"] and request.get("startRow", 0) == 0:
            raise RuntimeError(f"grid {name}: no rows")

    def samples_page(self):
        page = self.rng.randrange(2, 200)
        self._call(
            "samples-cards.children",
            inputs=[
                {"id": "samples-order", "property": "value", "value": self.rng.choice(["loss", "f1"])},
                {"id": "samples-page", "property": "active_page", "value": page},
            ],
            state=[{"id": "url", "property": "search", "value": self.search(tab="samples", smp_page=1)}],
            changed=["samples-page.active_page"],
        )

    def random_draw(self):
        self._call(
            "random_samples-cards.children",
            inputs=[
                {"id": "random_samples-draw", "property": "n_clicks", "value": 1},
                {"id": "random_samples-n", "property": "value", "value": 10},
                {"id": "random_samples-order", "property": "value", "value": "id"},  # every input of the callback
            ],
            state=[{"id": "url", "property": "search", "value": self.search(tab="random_samples")}],
            changed=["random_samples-draw.n_clicks"],
        )

    def raw_example(self):
        self._call(
            "raw_data-content.children",
            inputs=[{"id": "raw_data-id", "property": "value", "value": self.rng.randrange(1, self.n_examples)}],
            state=[{"id": "url", "property": "search", "value": self.search(tab="raw_data")}],
        )

    def page_of_50(self) -> dict:
        """One block of the grid's infinite row model (cacheBlockSize 50), somewhere in the first 20."""
        start = 50 * self.rng.randrange(20)
        return {"startRow": start, "endRow": start + 50}

    # Compare (issue 21): this cache as A, ``vs`` as B.

    def compare_search(self, **extra) -> str:
        return self.search(tab="compare", vs=self.vs, **extra)

    def compare_tab(self):
        search = self.compare_search()
        route = self.client.route(search).json()["response"]["route"]["data"]
        response = self.client.render_tab(route, search)
        if response.status_code != 200:
            raise RuntimeError(f"compare: HTTP {response.status_code}")
        content = response.json()["response"]["tab-content"]["children"]
        if not self.count_ids:
            self.count_ids = _ids_of_type(content, "compare-count")
        if not self.confusion_labels:
            self.confusion_labels = _figure_labels(content, "compare-confusion-difference")
        head = json.dumps(content)[:400]
        if "Alert" in head and "danger" in head:
            raise RuntimeError(f"compare shows an error: {head[:300]}")

    def compare_selection(self, *, count: dict | None = None, order: str = "changed", page: int = 1):
        """Compare's selection callback as a count click, a new order or a page sends it."""
        from load import _prop_id

        if not self.count_ids:
            self.compare_tab()
        counts = [
            {"id": ident, "property": "n_clicks", "value": 1 if ident == count else None} for ident in self.count_ids
        ]
        inputs = [
            counts,
            {"id": "compare-order", "property": "value", "value": order},
            {"id": "compare-pager", "property": "active_page", "value": page},
        ]
        if count is not None:
            changed = _prop_id({"id": count, "property": "n_clicks"})
        else:
            changed = "compare-order.value" if order != "changed" else "compare-pager.active_page"
        answer = self._call(
            "compare-examples.children",
            inputs=inputs,
            state=[{"id": "url", "property": "search", "value": self.compare_search(cmp_order="changed")}],
            changed=[changed],
        )
        if "compare-examples" not in answer.get("response", {}):
            raise RuntimeError(f"compare selection: no examples in {str(answer)[:200]}")

    def compare_slices(self):
        """The slices block Compare fills once its page is shown (computed once per pair, then kept)."""
        answer = self._call(
            "compare-slices.children",
            inputs=[{"id": "compare-slices-load", "property": "data", "value": True}],
            state=[{"id": "url", "property": "search", "value": self.compare_search()}],
        )
        if "compare-slices" not in answer.get("response", {}):
            raise RuntimeError(f"compare slices: {str(answer)[:200]}")

    def compare_confusion_cell(self):
        """A click on a cell of the B − A confusion: the URL of its spans in Misclassified."""
        if not self.confusion_labels:
            self.compare_tab()
        gold, pred = self.rng.choice(self.confusion_labels), self.rng.choice(self.confusion_labels)
        answer = self._call(
            "url.search",
            "compare-confusion-difference.clickData",
            inputs=[
                {
                    "id": "compare-confusion-difference",
                    "property": "clickData",
                    "value": {"points": [{"x": pred, "y": gold, "z": 0}]},
                }
            ],
            state=[{"id": "url", "property": "search", "value": self.compare_search()}],
        )
        if "tab=misclassified" not in json.dumps(answer.get("response", {})):
            raise RuntimeError(f"compare confusion cell: {str(answer)[:200]}")

    def compare_inspector(self):
        example = self.rng.randrange(self.n_examples)
        response = self.client.inspector(self.compare_search(sample=example))
        title = json.dumps(response.json()["response"]["inspector-title"]["children"])
        if "(B)" not in title:
            raise RuntimeError(f"paired inspector: {title[:200]}")

    def compare_actions(self) -> list[tuple[str, object]]:
        """Compare's callbacks on the pair (none without a second cache of the same data)."""
        if not self.vs or "compare" not in self.tabs:
            return []
        return [
            ("compare: tab with B (first view)", self.compare_tab),
            ("compare: a count clicked", lambda: self.compare_selection(count=self.rng.choice(self.count_ids))),
            ("compare: order by loss change", lambda: self.compare_selection(order="loss")),
            ("compare: next page", lambda: self.compare_selection(page=self.rng.randrange(2, 6))),
            ("compare: paired inspector", self.compare_inspector),
            ("compare: slices B − A", self.compare_slices),
            ("compare: B − A confusion cell clicked", self.compare_confusion_cell),
        ]

    def actions(self) -> list[tuple[str, object]]:
        """(name, function) of every callback to time, for the sections this app has."""
        word = lambda: self.rng.choice(["Paris", "John", "the", "Google", "said", "of"])
        sort_loss = [{"colId": "loss", "sort": "desc"}]
        has = set(self.tabs)
        plan = [(f"tab {tab}", (lambda tab=tab: self.tab(tab))) for tab in self.tabs if tab != "probing"]
        plan.append(("inspector", self.inspector))
        if "metrics" in has:
            plan.append(("metrics: confusion toggle", self.metrics_toggle))
        if "misclassified" in has:
            plan += [
                ("misclassified: filter controls", self.misclassified_filter),
                (
                    "misclassified: word grid, text filter",
                    lambda: self.grid_page(
                        "misclassified-words",
                        {"tab": "misclassified"},
                        {
                            "startRow": 0,
                            "endRow": 50,
                            "sortModel": sort_loss,
                            "filterModel": {"word": {"filterType": "text", "type": "contains", "filter": word()}},
                        },
                    ),
                ),
                (
                    "misclassified: span grid, category",
                    lambda: self.grid_page(
                        "misclassified-spans",
                        {
                            "tab": "misclassified",
                            "mis_level": "span",
                            "mis_category": self.rng.choice(["missed", "spurious", "boundary"]),
                        },
                        {"startRow": 0, "endRow": 50, "sortModel": [], "filterModel": {}},
                    ),
                ),
            ]
        if "loss" in has:
            plan.append(
                (
                    "loss: word grid, sorted page",
                    lambda: self.grid_page(
                        "loss-words",
                        {"tab": "loss"},
                        {
                            **self.page_of_50(),
                            "sortModel": [
                                {"colId": self.rng.choice(["mean_loss", "count", "total_loss"]), "sort": "desc"}
                            ],
                            "filterModel": {},
                        },
                    ),
                )
            )
        if "samples" in has:
            plan.append(("samples: next page", self.samples_page))
        if "random_samples" in has:
            plan.append(("random samples: new draw", self.random_draw))
        if "inspect" in has:
            plan += [
                (
                    "inspect: text filter, sorted",
                    lambda: self.grid_page(
                        "inspect",
                        {"tab": "inspect"},
                        {
                            "startRow": 0,
                            "endRow": 50,
                            "sortModel": [{"colId": "total_loss", "sort": "desc"}],
                            "filterModel": {"text": {"filterType": "text", "type": "contains", "filter": word()}},
                        },
                    ),
                ),
                (
                    "inspect: id filter",
                    lambda: self.grid_page(
                        "inspect",
                        {"tab": "inspect"},
                        {
                            "startRow": 0,
                            "endRow": 50,
                            "sortModel": [],
                            "filterModel": {
                                "example_id": {
                                    "filterType": "number",
                                    "type": "equals",
                                    "filter": self.rng.randrange(self.n_examples),
                                }
                            },
                        },
                    ),
                ),
            ]
        if "raw_data" in has:
            plan.append(("raw data: example id", self.raw_example))
        plan += self.compare_actions()
        if "slices" in has:  # the charts' buckets and types are read from the tab in the first pass
            plan += [("slices: bar click", self.slices_bar_click), ("slices: entity type", self.slices_type)]
        return plan

    def other_grids(self) -> list[tuple[str, object]]:
        """First pages of the grids found in tabs that the plan above does not cover (other sections)."""
        covered = {"misclassified-words", "misclassified-spans", "loss-words", "inspect"}
        return [
            (
                f"{tab}: grid {name}",
                (
                    lambda name=name, tab=tab: self.grid_page(
                        name, {"tab": tab}, {"startRow": 0, "endRow": 50, "sortModel": [], "filterModel": {}}
                    )
                ),
            )
            for name, tab in sorted(self.grids.items())
            if name not in covered
        ]


def _grid_names(node) -> list[str]:
    names = []
    if isinstance(node, dict):
        ident = node.get("props", {}).get("id") if "props" in node else None
        if isinstance(ident, dict) and ident.get("type") == "grid":
            names.append(ident["name"])
        for value in node.values():
            names += _grid_names(value)
    elif isinstance(node, list):
        for value in node:
            names += _grid_names(value)
    return names


def _ids_of_type(node, kind: str) -> list[dict]:
    """The pattern-matching ids ``{"type": kind, ...}`` in a rendered layout, in order."""
    found = []
    if isinstance(node, dict):
        ident = node.get("props", {}).get("id") if "props" in node else None
        if isinstance(ident, dict) and ident.get("type") == kind:
            found.append(ident)
        for value in node.values():
            found += _ids_of_type(value, kind)
    elif isinstance(node, list):
        for value in node:
            found += _ids_of_type(value, kind)
    return found


def _figure_labels(node, ident: str) -> list[str]:
    """The x labels of the first trace of the graph ``ident`` in a rendered layout ([] when absent)."""
    if isinstance(node, dict):
        props = node.get("props", {}) if "props" in node else {}
        if props.get("id") == ident:
            return [str(label) for label in props["figure"]["data"][0]["x"]]
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return []
    for value in children:
        found = _figure_labels(value, ident)
        if found:
            return found
    return []


def _slice_controls(node) -> tuple[list[tuple[str, str]], list[str]]:
    """(attribute, bucket) of every bar of the Slices charts, and the entity types of its dropdown."""
    bars, types = [], []
    if isinstance(node, dict):
        props = node.get("props", {}) if "props" in node else {}
        ident = props.get("id")
        if isinstance(ident, dict) and ident.get("type") == "slices-chart":
            bars += [(str(item[0]), str(item[1])) for item in props["figure"]["data"][0]["customdata"]]
        if ident == "slices-type":
            types += [str(option["value"]) for option in props.get("options", [])]
        for value in node.values():
            more_bars, more_types = _slice_controls(value)
            bars, types = bars + more_bars, types + more_types
    elif isinstance(node, list):
        for value in node:
            more_bars, more_types = _slice_controls(value)
            bars, types = bars + more_bars, types + more_types
    return bars, types


def cpu_ms(pids: list[int]) -> float:
    """CPU time the processes ``pids`` have run, all threads, in ms (/proc/PID/task/*/schedstat, ns)."""
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total / 1e6


def play(actions: Actions, rounds: int, *, server_pids: list[int], only: str = ""):
    """``rounds`` rounds of every action in a shuffled order.

    Returns milliseconds per action (wall, as the client sees it), the server's CPU milliseconds per
    action (the workers' CPU time across the request: one user, so nothing else runs there; this is
    what the request would take on an idle core), and the failures.
    """
    plan = actions.actions()
    for name, action in plan:  # one pass first: finds the grids of other sections' tabs
        if name.startswith("tab "):
            action()
    actions.exploring = False
    plan += actions.other_grids()
    plan = [(name, action) for name, action in plan if only in name]
    times, cpu, failures = defaultdict(list), defaultdict(list), []
    for _ in range(rounds):
        actions.rng.shuffle(plan)
        for name, action in plan:
            started, cpu_before = time.perf_counter(), cpu_ms(server_pids)
            try:
                action()
            except Exception as error:  # recorded and reported, the run goes on
                failures.append(f"{name}: {error}")
                continue
            times[name].append((time.perf_counter() - started) * 1000)
            cpu[name].append(cpu_ms(server_pids) - cpu_before)
    return times, cpu, failures


def latency_table(times: dict[str, list[float]], cpu: dict[str, list[float]], goal_ms: float) -> str:
    from load import _percentile

    lines = [
        "| callback | n | p50 ms | p95 ms | max ms | p95 < goal | server CPU p50 / p95 ms |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    every, every_cpu = [], []
    for name in sorted(times, key=lambda n: (not n.startswith("tab "), n)):
        values, used = sorted(times[name]), sorted(cpu[name])
        every += values
        every_cpu += used
        p95 = _percentile(values, 95)
        lines.append(
            f"| {name} | {len(values)} | {_percentile(values, 50):.0f} | {p95:.0f} | {values[-1]:.0f} | "
            f"{'yes' if p95 < goal_ms else '**no**'} | "
            f"{_percentile(used, 50):.0f} / {_percentile(used, 95):.0f} |"
        )
    every.sort()
    every_cpu.sort()
    if every:
        lines.append(
            f"| all | {len(every)} | {_percentile(every, 50):.0f} | {_percentile(every, 95):.0f} | "
            f"{every[-1]:.0f} | {'yes' if _percentile(every, 95) < goal_ms else '**no**'} | "
            f"{_percentile(every_cpu, 50):.0f} / {_percentile(every_cpu, 95):.0f} |"
        )
    return "\n".join(lines)


# --- one cache under gunicorn ---------------------------------------------------------------------


def wait_for_warm_up(app, workers: int, timeout: float) -> tuple[float, list[str]]:
    """Seconds until every worker logged its warm-up, and those log lines."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        lines = [line for line in app.log.read_text(errors="replace").splitlines() if "warmed in" in line]
        if len(lines) >= workers:
            return time.monotonic() - started, lines
        time.sleep(0.5)
    return time.monotonic() - started, []


def bench_cache(cache: Path, size: str, *, rounds: int, users4: float, vs: str | None = None, only: str = "") -> str:
    from stack import Gunicorn, Nginx

    from explainer.cache.reader import open_cache

    manifest = open_cache(cache).manifest
    counts = manifest["counts"]
    on_disk = sum(path.stat().st_size for path in cache.iterdir() if path.is_file()) / 2**20
    text = [
        f"## {size}: {counts['examples']:,} examples, {counts['words']:,} words, {counts['subwords']:,} subwords "
        f"({on_disk:,.0f} MB on disk)\n"
    ]
    workers = 2
    with (
        Gunicorn(cache=cache.parent, workers=workers, strips_prefix=False, timeout=120) as app,
        Nginx(upstream_port=app.port, strips_prefix=False) as proxy,
    ):
        pids = app.worker_pids()
        started_memory = [memory_mb(pid) for pid in pids]
        warm_seconds, warm_lines = wait_for_warm_up(app, workers, timeout=900)
        snapshots = {"started (before warm-up)": started_memory, "after warm-up": [memory_mb(p) for p in pids]}
        load_before = os.getloadavg()
        actions = Actions(proxy.url, vs=vs)
        times, cpu, failures = play(actions, rounds, server_pids=pids, only=only)
        load_after = os.getloadavg()
        snapshots[f"after {rounds} rounds"] = [memory_mb(pid) for pid in pids]
        text.append(
            f"Workers warmed up in {warm_seconds:.0f} s (each renders every tab once in a background thread; "
            f"the seconds per tab are its cold read):\n"
        )
        text += [f"    {re.sub(r'^.*explainer: ', '', line)}" for line in warm_lines]
        text.append(
            f"\nOne user, {rounds} rounds of every callback in a shuffled order; load average "
            f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (2 cores).\n"
        )
        text.append(latency_table(times, cpu, GOALS_MS[size]))
        if failures:
            text.append(f"\n{len(failures)} failed requests, e.g.: " + "; ".join(failures[:3]))
        if users4:
            from load import run_load

            report = run_load(proxy.url, users=4, duration=users4, think=0.05)
            text.append(
                f"\n4 users at once (bench/load.py's mix), load average {os.getloadavg()[0]:.1f}:\n\n{report.table()}"
            )
            snapshots["after 4 users"] = [memory_mb(pid) for pid in pids]
        text.append(f"\nMemory per worker (goal at 1M: RSS < {MEMORY_GOAL_MB} MB):\n\n{memory_table(snapshots)}\n")
        text.append(f"What worker 1's RSS holds at the end (largest mappings):\n\n{mapping_table(pids[0])}\n")
    return "\n".join(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/bench-caches"),
        help="directory for the model and caches, kept and reused (default /tmp/bench-caches)",
    )
    parser.add_argument("--rounds", type=int, default=30, help="rounds of every callback per cache")
    parser.add_argument("--sizes", default="250k,1m", help="caches to measure: 250k, 1m or both")
    parser.add_argument(
        "--users4", type=float, default=20.0, help="seconds of 4 users at once on the 250k cache (0: skip)"
    )
    parser.add_argument(
        "--only",
        default="",
        metavar="TEXT",
        help="time only the callbacks whose name contains TEXT (e.g. compare); the table goes to results/app-TEXT.md",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    args.work.mkdir(parents=True, exist_ok=True)
    model = args.work / "model"
    if not (model / "config.json").is_file():
        load_bench("build").make_model(model, layers=2, hidden=128, vocab_size=16000)
    sizes = [size.strip().lower() for size in args.sizes.split(",") if size.strip()]
    caches = {size: ensure_cache(model, args.work, size) for size in sizes}
    vs_keys = {size: ensure_vs_cache(model, args.work, size) for size in sizes}
    sections = [
        "# App latency and worker memory\n",
        "nginx -> gunicorn (`gunicorn.conf.py`: 2 workers x 4 threads, warm-up on) on 127.0.0.1; the load "
        "generator on the same 2 cores; a config-built 2-layer BERT (random predictions: nearly every word "
        f"is an error, the worst case for Misclassified). Goals: p95 < {GOALS_MS['250k']} ms at ~250k "
        f"subwords, < {GOALS_MS['1m']} ms at ~1M; RSS per worker < {MEMORY_GOAL_MB} MB at 1M. "
        "Latency is wall time at the client; *server CPU* is the CPU time the workers spent on the "
        "request (all threads, /proc/PID/task/*/schedstat), close to what it would take on an idle core "
        "when other jobs load the machine.\n",
    ]
    for size, cache in caches.items():
        sections.append(
            bench_cache(
                cache,
                size,
                rounds=args.rounds,
                users4=args.users4 if size == "250k" else 0,
                vs=vs_keys[size],
                only=args.only,
            )
        )
        print(sections[-1], flush=True)
    sections.append(f"\nWhole run: {time.monotonic() - started:.0f} s.\n")
    text = "\n".join(sections)
    out = Path(__file__).with_name("results") / (
        f"app-{re.sub(r'[^a-z0-9]+', '-', args.only.lower())}.md" if args.only else "app.md"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
