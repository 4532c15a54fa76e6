"""A production-shaped stack on loopback: gunicorn (``gunicorn.conf.py``) behind nginx (``deploy/``).

Used by ``bench/load.py`` and the deployment tests. Everything listens on 127.0.0.1 on free ports,
writes its files under one temporary directory, and stops when the ``with`` block ends::

    with Gunicorn(cache=root, workers=2) as app, Nginx(upstream_port=app.port) as proxy:
        requests.get(proxy.url + "readyz")

nginx runs the site files shipped in ``deploy/`` (only the listen address and upstream port are
rewritten), so what is tested is what a user copies.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
PREFIX = "/tools/ner/"
SITE_FILES = {False: DEPLOY / "nginx-prefix-passthrough.conf", True: DEPLOY / "nginx-prefix-stripped.conf"}


class StackError(RuntimeError):
    """A server of the stack did not start; the message carries the end of its log."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_status(url: str, *, timeout: float = 5.0) -> int | None:
    """The HTTP status of GET ``url``, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback URLs only
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def wait_until(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise StackError(f"timed out after {timeout:.0f} s waiting for {what}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _Process:
    """A server process in its own session, stopped with SIGTERM then SIGKILL (by its own id)."""

    name = "server"

    def __init__(self, workdir: Path | None):
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix=f"explainer-{self.name}-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / f"{self.name}.log"
        self.process: subprocess.Popen | None = None

    def _spawn(self, command: list[str], *, env: dict, cwd: Path) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _wait_ready(self, url: str, *, timeout: float) -> None:
        def up():
            if self.process.poll() is not None:
                raise StackError(f"{self.name} exited with {self.process.returncode}:\n{_tail(self.log)}")
            return http_status(url, timeout=2) is not None

        try:
            wait_until(up, timeout=timeout, what=f"{self.name} at {url}")
        except StackError:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, *, timeout: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the session we started, by its id
            process.wait(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class Gunicorn(_Process):
    """``gunicorn -c gunicorn.conf.py app:server`` on a free loopback port.

    ``honour_permissions``: when started as root, drop the capabilities that let root read any
    file (with ``setpriv``), so that file permissions apply to the app as to a non-root user.
    """

    name = "gunicorn"

    def __init__(
        self,
        *,
        cache: Path,
        prefix: str = PREFIX,
        strips_prefix: bool = False,
        workers: int = 2,
        threads: int = 4,
        timeout: int = 30,
        env: dict | None = None,
        honour_permissions: bool = False,
        workdir: Path | None = None,
    ):
        super().__init__(workdir)
        self.port = free_port()
        self.prefix = prefix
        self.strips_prefix = strips_prefix
        self.env = {
            **os.environ,
            "EXPLAINER_CACHE": str(cache),
            "EXPLAINER_URL_PREFIX": prefix,
            "EXPLAINER_PROXY_STRIPS_PREFIX": "1" if strips_prefix else "0",
            "EXPLAINER_BIND": f"127.0.0.1:{self.port}",
            "EXPLAINER_WORKERS": str(workers),
            "EXPLAINER_THREADS": str(threads),
            "EXPLAINER_TIMEOUT": str(timeout),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.honour_permissions = honour_permissions

    @property
    def url(self) -> str:
        """The app's root as gunicorn serves it (without the prefix when the proxy strips it)."""
        return f"http://127.0.0.1:{self.port}{'/' if self.strips_prefix else self.prefix}"

    def start(self) -> Gunicorn:
        command = [str(Path(sys.executable).with_name("gunicorn")), "-c", str(REPO / "gunicorn.conf.py"), "app:server"]
        if self.honour_permissions and os.geteuid() == 0:
            if not can_drop_root_file_access():
                raise StackError("setpriv (util-linux) is needed to make file permissions apply to root")
            command = ["setpriv", f"--bounding-set={DROPPED_CAPABILITIES}", "--", *command]
        self._spawn(command, env=self.env, cwd=REPO)
        self._wait_ready(self.url + "healthz", timeout=60)
        wait_until(
            lambda: len(self.worker_pids()) >= int(self.env["EXPLAINER_WORKERS"]), timeout=60, what="gunicorn workers"
        )
        return self

    def worker_pids(self) -> list[int]:
        """The master's live children (its workers), from /proc."""
        if self.process is None:
            return []
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()  # after "(comm)": state, ppid, ...
            if int(fields[1]) == self.pid and fields[0] != "Z":
                children.append(int(entry.name))
        return sorted(children)


DROPPED_CAPABILITIES = "-dac_override,-dac_read_search"


def can_drop_root_file_access() -> bool:
    """Whether ``setpriv`` can start a root process for which file permissions apply."""
    if shutil.which("setpriv") is None:
        return False
    probe = subprocess.run(["setpriv", f"--bounding-set={DROPPED_CAPABILITIES}", "--", "true"], capture_output=True)
    return probe.returncode == 0


def nginx_binary() -> str | None:
    """Debian's nginx (``apt-get install nginx``), or None."""
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def site_config(
    *, strips_prefix: bool, listen_port: int, upstream_port: int | list[int], htpasswd: Path | None = None
) -> str:
    """The shipped site file for one proxy mode, listening on 127.0.0.1:``listen_port``, in front of one app host
    or several (a list of ports: nginx balances between them); with ``htpasswd``, its commented-out ``auth_basic``
    lines switched on with that user file."""
    text = SITE_FILES[strips_prefix].read_text()
    text, listens = re.subn(r"listen\s+80;", f"listen 127.0.0.1:{listen_port};", text)
    ports = upstream_port if isinstance(upstream_port, list) else [upstream_port]
    servers = " ".join(f"server 127.0.0.1:{port};" for port in ports)
    text, upstreams = re.subn(r"server\s+127\.0\.0\.1:8000;", servers, text)
    if (listens, upstreams) != (1, 1):
        raise StackError(f"{SITE_FILES[strips_prefix].name} no longer has one 'listen 80;' and one upstream line")
    if htpasswd is not None:
        text, auths = re.subn(
            r"# (auth_basic \S.*;)\n(\s*)# auth_basic_user_file \S+;", rf"\1\n\2auth_basic_user_file {htpasswd};", text
        )
        if auths != 1:
            raise StackError(f"{SITE_FILES[strips_prefix].name} no longer has the commented-out auth_basic lines")
    return text


class Nginx(_Process):
    """nginx with the shipped site for one proxy mode, plus optional portal pages on other origins.

    Each port in ``portal_ports`` serves ``/`` as a page that frames the app: a second (and third)
    local origin for the embedding tests. ``htpasswd``: the site's basic authentication on, with that
    user file (nginx reads ``name:{PLAIN}password`` lines).
    """

    name = "nginx"

    def __init__(
        self,
        *,
        upstream_port: int | list[int],
        strips_prefix: bool = False,
        portal_ports=(),
        htpasswd: Path | None = None,
        workdir: Path | None = None,
    ):
        super().__init__(workdir)
        self.port = free_port()
        self.upstream_port = upstream_port
        self.strips_prefix = strips_prefix
        self.htpasswd = htpasswd
        self.portal_ports = list(portal_ports)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    def portal_url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/"

    def start(self) -> Nginx:
        binary = nginx_binary()
        if binary is None:
            raise StackError("nginx is not installed (apt-get install nginx)")
        self.dir.chmod(0o755)  # nginx workers may run as another user: they read the portal pages
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(exist_ok=True)
            (self.dir / sub).chmod(0o777)
        portals = []
        for port in self.portal_ports:
            root = self.dir / f"portal-{port}"
            root.mkdir(exist_ok=True)
            root.chmod(0o755)
            (root / "index.html").write_text(
                '<!doctype html><title>portal</title><link rel="icon" href="data:,"><h1>Portal</h1>'
                f'<iframe id="app" src="{self.url}" width="1200" height="800"></iframe>\n'
            )
            (root / "index.html").chmod(0o644)
            portals.append(f"server {{ listen 127.0.0.1:{port}; root {root}; location / {{ }} }}")
        config = self.dir / "nginx.conf"
        config.write_text(f"""
daemon off;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.log} warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    access_log {self.dir}/access.log;
    client_body_temp_path {self.dir}/client_body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
{site_config(strips_prefix=self.strips_prefix, listen_port=self.port, upstream_port=self.upstream_port, htpasswd=self.htpasswd)}
{chr(10).join(portals)}
}}
""")
        self._spawn(
            [binary, "-p", str(self.dir), "-e", str(self.log), "-c", str(config)], env=dict(os.environ), cwd=self.dir
        )
        self._wait_ready(f"http://127.0.0.1:{self.port}/", timeout=20)
        return self

    def stop(self, *, timeout: float = 15.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish the requests in flight
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        super().stop(timeout=5)
