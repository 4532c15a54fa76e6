"""Reliability: bad input through HTTP gets a message or a 4xx, never a 500 or a file outside the
cache root; and, with the real stack (nginx -> gunicorn), faults are survived: a killed worker,
a cache root that disappears or becomes unreadable, a truncated Parquet file, a killed build."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests
from helpers import REPO_ROOT

from explainer.app.factory import create_app
from explainer.app.settings import Settings

REPO = REPO_ROOT
sys.path.insert(0, str(REPO / "bench"))
from load import DashClient  # noqa: E402  (the same callback requests as the load test and the browser)

HOSTILE_TEXT = {
    "oversized": "Paris " * 50_000,  # 300 KB in the URL state
    "whitespace": " \t \u00a0 \u3000 ",
    "zero-width": "\u200b\u200c\u200d\u2060\ufeff",
    "right-to-left": "\u202eParis\u202c \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "script": "<script>alert(1)</script>",
    "markup": "<img src=x onerror=alert(1)>",
}
BAD_SAMPLES = ["99999", "-1", "abc", "1e9", "9" * 40, "0x10", " 3 ", "<script>alert(1)</script>", "3.5", "-0"]
BAD_CACHE_KEYS = [
    "../etc",
    "/etc/passwd",
    "..%2F..%2Fetc",
    "%2e%2e%2f%2e%2e%2f",
    "tiny/../../etc",
    "..",
    "tiny/manifest.json",
    "tiny\x00",
    "C:\\Windows",
    "~root",
    "%252e%252e%252f",
]


class _FlaskSession:
    """The subset of requests.Session that DashClient uses, served by Flask's test client."""

    def __init__(self, client):
        self.client = client

    def post(self, url, json=None, timeout=None):
        return _Response(self.client.post(url.replace("http://app", ""), json=json))

    def get(self, url, timeout=None):
        return _Response(self.client.get(url.replace("http://app", "")))


class _Response:
    def __init__(self, response):
        self.status_code = response.status_code
        self.text = response.get_data(as_text=True)

    def json(self):
        return json.loads(self.text)

    def raise_for_status(self):
        assert self.status_code < 400, self.text


@pytest.fixture(scope="module")
def dash_client(tiny_cache):
    app = create_app(Settings(cache=tiny_cache.parent))
    client = DashClient("http://app/")
    client.session = _FlaskSession(app.server.test_client())
    client.load_dependencies()
    return client


def _outside_files() -> list[str]:
    """Text that would only appear if a file outside the cache root were served."""
    return ["root:x:0:", "create_app(Settings.from_env())", "[build-system]"]


@pytest.mark.parametrize("sample", BAD_SAMPLES)
def test_a_bad_sample_in_the_url_gets_a_message(dash_client, sample):
    response = dash_client.inspector(f"?cache=tiny&sample={sample}")
    assert response.status_code in (200, 204), response.text
    if response.status_code == 200:
        title = response.json()["response"].get("inspector-title", {}).get("children")
        expected = {None, "Example not found"}
        try:
            expected.add(f"Example {int(sample)}")  # e.g. ' 3 ' and '-0' are numbers to Python too
        except ValueError:
            pass
        assert title in expected, title


@pytest.mark.parametrize("key", BAD_CACHE_KEYS)
def test_a_cache_name_outside_the_root_is_refused_with_a_message(dash_client, key):
    search = f"?cache={key}&tab=debug"
    route = dash_client.route(search)
    assert route.status_code == 200
    rendered = dash_client.render_tab({"cache": key, "tab": "debug"}, search)
    assert rendered.status_code == 200
    content = json.dumps(rendered.json()["response"]["tab-content"])
    assert "no cache named" in content and "choose one of: tiny" in content
    inspector = dash_client.inspector(search + "&sample=0")
    assert "no cache named" in inspector.text
    for text in _outside_files():
        assert text not in rendered.text + inspector.text


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXT))
def test_hostile_text_in_filters_is_answered_as_text(dash_client, kind):
    text = HOSTILE_TEXT[kind]
    search = "?" + "&".join(
        f"{k}={requests.utils.quote(v)}" for k, v in (("cache", "tiny"), ("tab", "inspect"), ("ins_text", text))
    )
    rendered = dash_client.render_tab({"cache": "tiny", "tab": "inspect"}, search)
    assert rendered.status_code == 200, rendered.text[:300]
    assert "dangerouslySetInnerHTML" not in rendered.text
    for filter_model in (
        {"text": {"filterType": "text", "type": "contains", "filter": text}},
        {"text": {"filterType": "text", "type": "regex", "filter": text}},
        {"n_words": {"filterType": "number", "type": "greaterThan", "filter": text}},
    ):
        rows = dash_client.grid_rows(
            "inspect", {"startRow": 0, "endRow": 50, "sortModel": [], "filterModel": filter_model}, search
        )
        assert rows.status_code == 200, rows.text[:300]


@pytest.mark.parametrize(
    "request_",
    [
        {"startRow": -5, "endRow": 10**12, "sortModel": [{"colId": "no_such", "sort": "sideways"}], "filterModel": {}},
        {"startRow": "a", "endRow": None, "sortModel": "x", "filterModel": []},
        {"startRow": 0, "endRow": 50, "filterModel": {"text": "not a model"}},
        {"startRow": 0, "endRow": 50, "filterModel": {"text": {"operator": "OR", "conditions": "x"}}},
    ],
)
def test_malformed_grid_requests_never_500(dash_client, request_):
    response = dash_client.grid_rows("inspect", request_, "?cache=tiny&tab=inspect")
    assert response.status_code in (200, 204) or 400 <= response.status_code < 500, response.text[:300]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"output": "nope.children", "outputs": [], "inputs": [], "state": []}',
        b'{"output": 5, "inputs": "x"}',
    ],
)
def test_malformed_callback_requests_get_400(dash_client, body):
    response = dash_client.session.client.post("/_dash-update-component", data=body, content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "assets/../app.py",
        "assets/%2e%2e/app.py",
        "assets/..%2fapp.py",
        "assets/%2e%2e%2fpyproject.toml",
        "_dash-component-suites/dash/../../../app.py",
        "_dash-component-suites/dash/deps/..%2f..%2f..%2fapp.py",
        "_dash-component-suites/os/../../etc/passwd",
        "_dash-component-suites/explainer/app.py",
        "_dash-component-suites/dash/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "..%2f..%2fetc%2fpasswd",
        "/etc/passwd",
    ],
)
def test_paths_never_reach_files_outside_the_app(dash_client, path):
    response = dash_client.session.client.get("/" + path)
    body = response.get_data(as_text=True)
    assert response.status_code < 500, body[:300]
    for text in _outside_files():
        assert text not in body


# ------------------------------------------------------------------------ faults with the real stack

stack = pytest.importorskip("stack")


def _needs_nginx():
    if stack.nginx_binary() is None:
        pytest.skip("nginx is not installed (make test installs it: apt-get install nginx)")


def _copy(source: Path, root: Path, name: str) -> Path:
    target = root / name
    shutil.copytree(source, target)
    return target


@pytest.fixture(scope="module")
def faulty(tiny_cache):
    """nginx -> gunicorn (2 workers) on a private cache root holding 'tiny' and 'broken'.

    As root, the app runs without the capabilities that bypass file permissions, as in a container.
    """
    _needs_nginx()
    base = Path(tempfile.mkdtemp(prefix="explainer-faults-"))
    base.chmod(0o755)
    root = base / "caches"
    root.mkdir(mode=0o755)
    _copy(tiny_cache, root, "tiny")
    _copy(tiny_cache, root, "broken")
    permissions_apply = os.geteuid() != 0 or stack.can_drop_root_file_access()
    try:
        # Faults are injected after start: a worker that warmed every tab would already hold the files the
        # tests break, so these workers start cold and read them as a visitor's first request does.
        with (
            stack.Gunicorn(
                cache=root, workers=2, honour_permissions=permissions_apply, timeout=20, env={"EXPLAINER_WARM": "0"}
            ) as app,
            stack.Nginx(upstream_port=app.port) as proxy,
        ):
            yield {"app": app, "proxy": proxy, "root": root, "base": base, "permissions_apply": permissions_apply}
    finally:
        for path in (root, *root.glob("*")):
            if path.exists():
                path.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def _client(proxy) -> DashClient:
    client = DashClient(proxy.url)
    client.load_dependencies()
    return client


def _page_works(client: DashClient, *, key="tiny", sample=2) -> bool:
    rendered = client.render_tab({"cache": key, "tab": "metrics"}, f"?cache={key}")
    inspector = client.inspector(f"?cache={key}&sample={sample}")
    return (
        rendered.status_code == 200
        and "no cache" not in rendered.text
        and inspector.status_code == 200
        and inspector.json()["response"]["inspector-title"]["children"] == f"Example {sample}"
    )


@pytest.mark.deploy
@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_the_next_requests_succeed(faulty):
    app, proxy = faulty["app"], faulty["proxy"]
    client = _client(proxy)
    statuses, stop = [], threading.Event()

    def traffic():  # keep requests in flight while the worker dies
        mine = _client(proxy)
        while not stop.is_set():
            try:
                statuses.append(mine.inspector(f"?cache=tiny&sample={len(statuses) % 50}").status_code)
            except requests.RequestException:
                statuses.append(0)

    workers = app.worker_pids()
    threads = [threading.Thread(target=traffic) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    os.kill(workers[0], signal.SIGKILL)
    stack.wait_until(
        lambda: len(app.worker_pids()) == 2 and workers[0] not in app.worker_pids(),
        timeout=60,
        what="a replacement worker",
    )
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    # Only the requests in flight on the killed worker fail (one per traffic thread at most).
    assert set(statuses) <= {200, 502}, statuses
    assert statuses.count(502) <= len(threads), statuses
    assert statuses.count(200) >= len(threads), statuses
    stack.wait_until(
        lambda: requests.get(proxy.url + "readyz", timeout=10).status_code == 200,
        timeout=60,
        what="readyz after the restart",
    )
    assert all(_page_works(client, sample=s) for s in range(10))


@pytest.mark.deploy
def test_a_missing_cache_root_fails_readyz_and_the_page_says_what_to_do(faulty):
    proxy, root = faulty["proxy"], faulty["root"]
    client = _client(proxy)
    assert _page_works(client)
    away = faulty["base"] / "away"
    root.rename(away)
    try:
        ready = requests.get(proxy.url + "readyz", timeout=10)
        assert ready.status_code == 503
        assert "$EXPLAINER_CACHE" in ready.json()["reason"] and str(root) not in ready.text
        assert requests.get(proxy.url + "healthz", timeout=10).status_code == 200  # the process is fine
        rendered = client.render_tab({"cache": "tiny", "tab": "metrics"}, "?cache=tiny")
        assert rendered.status_code == 200
        message = json.dumps(rendered.json()["response"]["tab-content"])
        assert "no cache found under $EXPLAINER_CACHE" in message and "explainer build" in message
        assert str(root) not in rendered.text
    finally:
        away.rename(root)
    assert requests.get(proxy.url + "readyz", timeout=10).status_code == 200
    assert _page_works(client)


@pytest.mark.deploy
def test_an_unreadable_cache_root_fails_readyz_and_recovers(faulty):
    if not faulty["permissions_apply"]:
        pytest.skip("running as root without setpriv (util-linux): file permissions do not apply to the app")
    proxy, root = faulty["proxy"], faulty["root"]
    client = _client(proxy)
    root.chmod(0o000)
    try:
        ready = requests.get(proxy.url + "readyz", timeout=10)
        assert ready.status_code == 503 and "permission denied" in ready.json()["reason"]
        route = client.route("?cache=tiny&tab=metrics")
        assert route.status_code == 200
        alert = route.json()["sideUpdate"]["page-error"]
        assert alert["is_open"] and "readable by the app's user" in alert["children"]
        assert str(root) not in route.text
    finally:
        root.chmod(0o755)
    assert requests.get(proxy.url + "readyz", timeout=10).status_code == 200
    assert _page_works(client)


@pytest.mark.deploy
def test_a_truncated_parquet_breaks_only_the_views_that_read_it(faulty):
    proxy, root = faulty["proxy"], faulty["root"]
    spans = root / "broken" / "spans.parquet"
    spans.write_bytes(spans.read_bytes()[: spans.stat().st_size // 2])
    client = _client(proxy)
    # The inspector reads spans.parquet: it says what is wrong and what to do.
    inspector = client.inspector("?cache=broken&sample=1")
    assert inspector.status_code == 200
    answer = inspector.json()["response"]
    assert answer["inspector-title"]["children"] == "Cannot open the example"
    message = json.dumps(answer["inspector-body"]["children"])
    assert "cannot read $EXPLAINER_CACHE/broken/spans.parquet" in message and "explainer build" in message
    # Views over other files of the same cache keep working, and so does the other cache (Metrics reads the
    # spans for its entity-level confusion and nervaluate's schemes, so it is among the views that say so).
    for tab in ("loss", "inspect", "debug"):
        rendered = client.render_tab({"cache": "broken", "tab": tab}, f"?cache=broken&tab={tab}")
        assert rendered.status_code == 200 and "cannot read" not in rendered.text, tab
    rows = client.grid_rows(
        "inspect", {"startRow": 0, "endRow": 5, "sortModel": [], "filterModel": {}}, "?cache=broken&tab=inspect"
    )
    assert (
        rows.status_code == 200
        and len(rows.json()["response"]['{"name":"inspect","type":"grid"}']["getRowsResponse"]["rowData"]) == 5
    )
    assert _page_works(client, key="tiny")
    assert requests.get(proxy.url + "readyz", timeout=10).status_code == 200


@pytest.mark.deploy
@pytest.mark.slow
def test_a_build_killed_with_sigkill_leaves_the_served_cache_intact(faulty, tiny_model, tmp_path):
    from helpers import fixture_sentences, write_conll

    proxy, root = faulty["proxy"], faulty["root"]
    served = root / "tiny"
    before = {path.name: path.read_bytes() for path in served.iterdir()}
    dataset = write_conll(tmp_path / "bigger.conll", fixture_sentences(3000, seed=1))
    build = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "explainer",
            "build",
            "--model",
            str(tiny_model),
            "--dataset",
            str(dataset),
            "--out",
            str(served),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Kill it while it writes: once its temporary directory holds its first output file.
        stack.wait_until(
            lambda: any(any(tmp.iterdir()) for tmp in root.glob(".tiny.tmp-*")) or build.poll() is not None,
            timeout=120,
            interval=0.05,
            what="the build to start writing",
        )
        assert build.poll() is None, "the build finished before it could be killed; give it more data"
        os.kill(build.pid, signal.SIGKILL)
        build.wait(timeout=30)
    finally:
        if build.poll() is None:
            os.kill(build.pid, signal.SIGKILL)
            build.wait()
    assert {path.name: path.read_bytes() for path in served.iterdir()} == before
    assert requests.get(proxy.url + "readyz", timeout=10).json()["caches"] == 2
    client = _client(proxy)
    assert _page_works(client, sample=5)
    options = client.route("?cache=tiny").json()["response"]["cache-picker"]["options"]
    assert sorted(option["value"] for option in options) == ["broken", "tiny"]  # no half-written cache listed
