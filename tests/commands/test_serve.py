"""``explainer serve`` runs gunicorn with gunicorn.conf.py's settings on --host/--port, and stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from helpers import REPO_ROOT

from explainer.commands.serve import bind_address
from explainer.errors import ExplainerError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow  # gunicorn's workers import the app (Dash, pandas): a few seconds each
def test_serve_runs_gunicorn_answers_readyz_and_stops(tiny_cache, tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "EXPLAINER_WORKERS": "1", "EXPLAINER_WARM": "0", "PYTHONPATH": str(REPO_ROOT)}
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "explainer", "serve", str(tiny_cache), "--host", "127.0.0.1", "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            deadline, response = time.monotonic() + 180, None
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    response = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
                    break
                except (requests.ConnectionError, requests.Timeout):  # not listening yet, or the worker still loading
                    time.sleep(0.5)
            assert response is not None and response.status_code == 200, log.read_text()
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=60)
    text = log.read_text()
    assert code == 0, text
    assert "Booting worker" in text and f"Listening at: http://127.0.0.1:{port}" in text  # gunicorn, our port
    assert "explainer: 1 workers x 4 threads" in text  # gunicorn.conf.py's when_ready hook ran
    assert "development server" not in text  # not Flask's


def test_bind_address_keeps_host_and_port():
    assert bind_address("127.0.0.1", 8050) == "127.0.0.1:8050"
    assert bind_address("::1", 8050) == "[::1]:8050"
    with pytest.raises(ExplainerError, match="--port 0"):
        bind_address("127.0.0.1", 0)
