"""The wheel works outside the repository: built with `python -m build`, installed in a venv of its own (no
system site-packages, no PYTHONPATH, run from another directory), it answers `explainer --help`, builds the
tiny test cache and serves it with its assets and the vendored plotly bundle.

The venv's dependencies come from the locks (requirements/torch.txt, then the base dependencies pinned as in
requirements/dev.txt) and the venv is kept between runs under ~/.cache: a run reinstalls the wheel and only
the dependencies the locks changed. The first run on a machine installs them all (a few minutes, from pip's
cache and the local wheels).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import REPO_ROOT

from explainer.api import free_port

VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ner-explainer" / "wheel-test-venv"
pytestmark = pytest.mark.slow


def clean_environment() -> dict[str, str]:
    """This process's environment without what would let the repository's code in."""
    return {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


def run(command: list[str], *, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=clean_environment(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, command))}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of this checkout, built as a release would be: sdist first, then the wheel from the sdist."""
    pytest.importorskip("build")
    source = tmp_path_factory.mktemp("source")
    # A copy of the checkout's tracked and new files, so the build writes nothing into the repository.
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        path = REPO_ROOT / name.decode()
        if path.is_file():
            (source / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, source / name.decode())
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)], cwd=source)
    (found,) = out.glob("ner_explainer-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel) -> Path:
    """A venv of its own with the locked dependencies and this wheel. Kept between runs: pip installs only
    what the locks changed (nothing, usually), and the wheel afresh."""
    home = VENV
    python = home / "bin" / "python"
    if not python.is_file():
        home.parent.mkdir(parents=True, exist_ok=True)
        run([sys.executable, "-m", "venv", str(home)], cwd=home.parent)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    run([*pip, "--require-hashes", "-r", str(REPO_ROOT / "requirements" / "torch.txt")], cwd=home.parent)
    pinned = home / "constraints.txt"  # dev.txt's versions without hashes: pip takes no hashes in a constraints file
    pinned.write_text(
        "\n".join(
            line.rstrip(" \\")
            for line in (REPO_ROOT / "requirements" / "dev.txt").read_text().splitlines()
            if line and not line.startswith((" ", "#"))
        )
    )
    run([*pip, str(wheel), "-c", str(pinned)], cwd=home.parent)
    run([*pip, "--force-reinstall", "--no-deps", str(wheel)], cwd=home.parent)
    return home


def test_the_installed_wheel_builds_and_serves_the_tiny_cache_outside_the_repository(
    venv, tiny_model, tiny_dataset, tmp_path
):
    python, explainer = venv / "bin" / "python", venv / "bin" / "explainer"
    where = run(
        [str(python), "-c", "import explainer.app.factory as f; print(f.__file__); print(f.ASSETS)"], cwd=tmp_path
    )
    module, assets = where.stdout.split()
    assert module.startswith(str(venv)) and assets.startswith(str(venv)), (
        "the wheel's code and assets, not the checkout's"
    )
    assert "usage: explainer" in run([str(explainer), "--help"], cwd=tmp_path).stdout

    cache = tmp_path / "tiny"
    built = run(
        [str(explainer), "build", "--model", str(tiny_model), "--dataset", str(tiny_dataset), "--out", str(cache)]
        + ["--projection", "pca"],  # every step runs; PCA spares a fresh venv numba's first compilation for UMAP
        cwd=tmp_path,
    )
    assert "built" in built.stdout and (cache / "manifest.json").is_file()

    port = free_port()
    server = subprocess.Popen(
        [str(explainer), "serve", str(cache), "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(base, timeout=10) as response:
                    page = response.read().decode()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.5)
        assert "plotly-strict.min.js" in page and "00-bootstrap.min.css" in page
        with urllib.request.urlopen(base + "assets/plotly-strict.min.js", timeout=30) as response:
            assert len(response.read()) == (REPO_ROOT / "assets" / "plotly-strict.min.js").stat().st_size
        with urllib.request.urlopen(base + "_dash-layout", timeout=30) as response:
            assert b"section-link" in response.read()
    finally:
        server.terminate()
        server.wait(timeout=30)
