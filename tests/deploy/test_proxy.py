"""The shipped nginx sites as the only door to gunicorn: the reviewer comes from nginx's own
authentication, never from a header the client sent; so do the forwarding headers gunicorn trusts (the
scheme); nginx hides its version and its own error pages carry security headers; slow clients hold nginx
connections, not gunicorn threads."""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))
# bench/ is not a package: these imports need the path entry above (hence E402).
import stack  # noqa: E402
from load import DashClient  # noqa: E402

from explainer.app.components.review_view import Ids  # noqa: E402
from explainer.app.settings import Settings  # noqa: E402
from explainer.cache.reader import open_cache  # noqa: E402
from explainer.review import session  # noqa: E402
from explainer.review.queue import View  # noqa: E402
from explainer.review.store import DecisionStore, open_store  # noqa: E402

SEARCH = "?tab=review"
PASSWORD = b"secret"
USERS = ("ann", "zoë")  # written to the user file in UTF-8, as nginx compares the bytes the client sends
SECURITY_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy")
SPOOFED = {"X-Forwarded-User": "mallory", "X-Remote-User": "mallory", "X_Forwarded_User": "mallory"}
# What a client may send to pass for https, another host, port or prefix: gunicorn trusts its
# secure_scheme_headers (X-Forwarded-Proto, -Protocol, -Ssl) from the proxy's address; Werkzeug's ProxyFix
# and other WSGI middleware read the X-Forwarded-Host/Port/Prefix family and Forwarded.
FORWARDING = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Protocol": "ssl",
    "X-Forwarded-Ssl": "on",
    "X-Forwarded-Scheme": "https",
    "X-Scheme": "https",
    "X-Url-Scheme": "https",
    "Front-End-Https": "on",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Server": "evil.example",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Prefix": "/evil",
    "X-Forwarded-For": "203.0.113.9",
    "X-Real-Ip": "203.0.113.9",
    "Forwarded": "for=203.0.113.9;proto=https;host=evil.example",
    "X-Original-Url": "/evil",
    "X-Rewrite-Url": "/evil",
}


@dataclass(frozen=True)
class App:
    server: stack.Gunicorn
    cache: Path
    store: DecisionStore  # the cache's review database


@pytest.fixture(autouse=True, scope="module")
def _nginx_installed() -> None:
    if stack.nginx_binary() is None:
        pytest.skip("nginx is not installed (make test installs it: apt-get install nginx)")


@pytest.fixture(scope="module")
def htpasswd() -> Iterator[Path]:
    """A user file nginx's workers can read (they may run as another user: not under pytest's 0700 dirs)."""
    folder = Path(tempfile.mkdtemp(prefix="explainer-htpasswd-"))
    folder.chmod(0o755)
    path = folder / "htpasswd"
    path.write_bytes(b"".join(name.encode() + b":{PLAIN}" + PASSWORD + b"\n" for name in USERS))
    path.chmod(0o644)
    yield path
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def app(tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """gunicorn (1 worker) writing corrections to a folder of its own, with no EXPLAINER_REVIEWER."""
    corrections = tmp_path_factory.mktemp("corrections")
    env = {"EXPLAINER_CORRECTIONS_DIR": str(corrections), "EXPLAINER_REVIEWER": "", "EXPLAINER_WARM": "0"}
    with stack.Gunicorn(cache=tiny_cache.parent, workers=1, env=env) as server:
        yield App(server, tiny_cache, open_store(tiny_cache, directory=corrections))


@pytest.fixture(scope="module")
def authenticating(app: App, htpasswd: Path) -> Iterator[stack.Nginx]:
    """The shipped passthrough site with its auth_basic lines switched on."""
    with stack.Nginx(upstream_port=app.server.port, htpasswd=htpasswd) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def open_site(app: App) -> Iterator[stack.Nginx]:
    """The shipped passthrough site as it comes: no authentication."""
    with stack.Nginx(upstream_port=app.server.port) as proxy:
        yield proxy


def accept_all(
    app: App, proxy: stack.Nginx, *, auth: tuple[bytes, bytes] | None = None, headers: dict[str, str] | None = None
) -> requests.Response:
    """Clicks "accept all predictions" on the first example of the review queue, through ``proxy``,
    as the browser's callback request does; returns the response."""
    cache = open_cache(app.cache)
    # opened as the browser would now: on top of the latest decision, so the save is not a conflict
    _view, _queue, draft = session.navigate(cache, View(order="loss", status="all"), app.store.latest())
    client = DashClient(proxy.url, timeout=60)
    client.session.auth = auth
    client.session.headers.update(headers or {})
    dependencies = client.load_dependencies()
    [callback] = [dep for dep in dependencies if any(item["id"] == Ids.ACCEPT_ALL for item in dep["inputs"])]
    return client.click(callback, Ids.ACCEPT_ALL, {Ids.DRAFT: draft, Ids.NEW_TYPE: None, "url": SEARCH})


def last_reviewer(app: App) -> str | None:
    return app.store.history()[-1]["reviewer"]


@pytest.mark.deploy
def test_the_reviewer_is_the_user_nginx_authenticated_never_a_header_the_client_sent(
    app: App, authenticating: stack.Nginx
) -> None:
    unauthenticated = requests.post(authenticating.url + "_dash-update-component", json={}, headers=SPOOFED, timeout=30)
    assert unauthenticated.status_code == 401  # no credentials, no app
    response = accept_all(app, authenticating, auth=(b"ann", PASSWORD), headers=SPOOFED)
    assert response.status_code == 200, response.text[:300]
    assert last_reviewer(app) == "ann"
    # A UTF-8 user name reaches the file as itself, not read as Latin-1.
    assert accept_all(app, authenticating, auth=("zoë".encode(), PASSWORD)).status_code == 200
    assert last_reviewer(app) == "zoë"


@pytest.mark.deploy
def test_without_authentication_a_client_sent_identity_names_nobody(app: App, open_site: stack.Nginx) -> None:
    response = accept_all(app, open_site, headers=SPOOFED)
    assert response.status_code == 200, response.text[:300]
    assert last_reviewer(app) is None
    # The same request straight to gunicorn would have named mallory: the proxy is what stops it.
    assert session.reviewer_name(Settings.from_env({}), SPOOFED) == "mallory"


class _EchoHeaders(BaseHTTPRequestHandler):
    """An upstream that records the headers of every request it gets (in place of gunicorn)."""

    received: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.received.append({name.lower(): value for name, value in self.headers.items()})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.mark.deploy
@pytest.mark.parametrize("strips_prefix", [False, True], ids=["passthrough", "stripped"])
def test_nginx_sets_or_clears_every_forwarding_header_a_client_sends(strips_prefix: bool) -> None:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHeaders)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    _EchoHeaders.received = []
    try:
        with stack.Nginx(upstream_port=upstream.server_address[1], strips_prefix=strips_prefix) as proxy:
            assert requests.get(proxy.url + "healthz", headers={**FORWARDING, **SPOOFED}, timeout=30).status_code == 200
    finally:
        upstream.shutdown()
        upstream.server_close()
    [received] = _EchoHeaders.received
    # Set by nginx from what it knows (plain http here, the client's socket address)...
    assert received["x-forwarded-proto"] == "http"
    assert received["x-forwarded-for"] == "127.0.0.1"
    assert received["host"] == "127.0.0.1"
    # ...and nothing else the client sent that names a scheme, host, port, prefix or user.
    passed = {name: received[name.lower()] for name in [*FORWARDING, *SPOOFED] if name.lower() in received}
    assert passed == {"X-Forwarded-Proto": "http", "X-Forwarded-For": "127.0.0.1"}


@pytest.mark.deploy
def test_a_client_sent_scheme_header_neither_breaks_nor_upgrades_a_request(app: App, open_site: stack.Nginx) -> None:
    """gunicorn answers 400 to contradictory scheme headers from a trusted proxy (X-Forwarded-Proto: http
    from nginx, X-Forwarded-Ssl: on from the client), and would believe an https the client claimed."""
    for name in ("X-Forwarded-Ssl", "X-Forwarded-Protocol", "X-Forwarded-Proto"):
        claimed = {name: FORWARDING[name]}
        assert requests.get(open_site.url + "healthz", headers=claimed, timeout=30).status_code == 200, name
        # gunicorn itself trusts X-Forwarded-Proto alone (gunicorn.conf.py), the header nginx sets.
        direct = requests.get(app.server.url + "healthz", headers={"X-Forwarded-Proto": "http", **claimed}, timeout=30)
        assert direct.status_code == 200, name


@pytest.mark.deploy
def test_nginx_hides_its_version_and_its_own_error_pages_carry_security_headers(open_site: stack.Nginx) -> None:
    origin = open_site.url[: -len(stack.PREFIX)]
    pages = {
        404: requests.get(origin + "/elsewhere", timeout=30),
        413: requests.post(open_site.url + "_dash-update-component", data=b"x" * 2_000_000, timeout=30),
        301: requests.get(open_site.url.rstrip("/"), allow_redirects=False, timeout=30),
    }
    with stack.Nginx(upstream_port=stack.free_port()) as nowhere:  # no gunicorn behind it
        pages[502] = requests.get(nowhere.url + "healthz", timeout=30)
    for status, page in pages.items():
        assert page.status_code == status
        assert page.headers["Server"] == "nginx" and "nginx/" not in page.text, status
        missing = [name for name in SECURITY_HEADERS if name not in page.headers]
        assert not missing, f"nginx's {status} page lacks {missing}"
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    # The app's own responses keep the app's headers, once each (nginx adds none of its own).
    served = requests.get(open_site.url, timeout=30)
    assert served.headers["Server"] == "nginx" and "script-src 'self'" in served.headers["Content-Security-Policy"]
    for name in SECURITY_HEADERS[1:]:
        assert "," not in served.headers[name], f"{name} sent twice: {served.headers[name]}"


# ------------------------------------------------------------------------------ slow clients

SLOW_CLIENTS = 50


def open_slow_clients(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that each sent the start of a request header and nothing more yet."""
    clients = []
    for _ in range(count):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        client.sendall(f"GET {stack.PREFIX}healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode())
        clients.append(client)
    return clients


def trickle(clients: list[socket.socket], port: int) -> int:
    """One more header byte on every connection; a connection the server closed is opened again (so
    there are always ``len(clients)`` of them). Returns how many were reopened."""
    reopened = 0
    for index, client in enumerate(clients):
        try:
            client.sendall(b"a")
        except OSError:
            client.close()
            clients[index] = open_slow_clients(port, 1)[0]
            reopened += 1
    return reopened


@pytest.mark.deploy
@pytest.mark.slow
def test_fifty_slow_header_connections_through_nginx_leave_health_probes_green(tmp_path: Path) -> None:
    """gunicorn's threads (2 workers x 4 here) read a request's headers with blocking reads once its
    first byte is in, so 10-12 clients trickling headers straight to gunicorn hold them all; nginx
    reads the whole header first (client_header_timeout closes a trickler), so none reaches gunicorn."""
    with (
        stack.Gunicorn(cache=tmp_path, workers=2, threads=4, env={"EXPLAINER_WARM": "0"}) as gunicorn,
        stack.Nginx(upstream_port=gunicorn.port) as proxy,
    ):
        clients = open_slow_clients(proxy.port, SLOW_CLIENTS)
        try:
            probes: list[tuple[int | str, float]] = []
            reopened = 0
            deadline = time.monotonic() + 15  # longer than nginx's client_header_timeout (10 s)
            while time.monotonic() < deadline:
                reopened += trickle(clients, proxy.port)
                started = time.monotonic()
                status: int | str
                try:  # within the Docker HEALTHCHECK's --timeout
                    status = requests.get(proxy.url + "healthz", timeout=5).status_code
                except requests.RequestException as error:
                    status = type(error).__name__
                probes.append((status, round(time.monotonic() - started, 2)))
                time.sleep(1)
        finally:
            for client in clients:
                client.close()
    assert len(probes) >= 5
    assert all(status == 200 for status, _ in probes), probes
    # The tricklers were held by nginx, then cut off by it (none ever completed a request).
    assert reopened >= SLOW_CLIENTS // 2, reopened
