"""The locks of ``make install`` and ``make demo``: exact versions with hashes, compiled from pyproject.toml.

``python requirements/lock.py`` (``make lock``) compiles, with uv (``uv pip compile --generate-hashes``):

- ``requirements/dev.txt``: the base dependencies and the ``dev`` extra (what ``make install`` and ``make test`` use);
- ``requirements/demo.txt``: the base dependencies and the ``demo`` extra (``make demo``), constrained to the
  versions of dev.txt;
- ``requirements/torch.txt``: torch (the CPU build named in ``requirements/torch.in``) and its dependencies,
  constrained to dev.txt too, installed first so that no other requirement can pull a CUDA build.

A version already in a lock is kept (uv reads the existing file as its preferences), so adding a dependency
to pyproject.toml changes only that dependency and what it needs; ``--upgrade`` moves everything to the
newest versions the ranges allow. Each lock's first line records a digest of what it was compiled from
(pyproject.toml's dependency lists and requirements/torch.in); ``--check`` (run by ``make install`` and the
tests) fails when pyproject.toml changed since, naming the command that brings the locks up to date.

Only the standard library here: ``--check`` runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "requirements"
TORCH_IN = FOLDER / "torch.in"
LOCKS = ("dev", "demo", "torch")  # compiled in this order: demo and torch are constrained to dev
PYTHON_VERSION = "3.11.7"  # the machines' python3 (some releases need a patch level, e.g. soupsieve >=3.11.5)
PLATFORM = "x86_64-manylinux_2_28"  # the machines' kind (Debian 12, glibc 2.36); the torch CPU wheel's tag
DIGEST_PREFIX = "# inputs-sha256: "
REGENERATE = "make lock"


def inputs_digest(root: Path = ROOT) -> str:
    """sha256 of what the locks are compiled from: pyproject.toml's dependency lists and the torch pin."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    inputs = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "torch": (root / "requirements" / "torch.in").read_text(encoding="utf-8").split(),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def lock_path(name: str, root: Path = ROOT) -> Path:
    return root / "requirements" / f"{name}.txt"


def stale_locks(root: Path = ROOT) -> list[str]:
    """The locks that are missing or were compiled from other inputs than the current ones."""
    digest = inputs_digest(root)
    stale = []
    for name in LOCKS:
        path = lock_path(name, root)
        first = path.read_text(encoding="utf-8").partition("\n")[0] if path.is_file() else ""
        if first != DIGEST_PREFIX + digest:
            stale.append(str(path.relative_to(root)))
    return stale


def find_links() -> list[str]:
    """pip's find-links of this machine (environment, then pip's configuration): where the CPU torch wheel lies."""
    value = os.environ.get("PIP_FIND_LINKS", "")
    if not value:
        found = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.find-links"], capture_output=True, text=True
        )
        value = found.stdout.strip() if found.returncode == 0 else ""
    return value.split()


def uv_command() -> list[str]:
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if found is None:
        sys.exit("requirements/lock.py: uv is not installed; `make install` installs it (or: pip install uv)")
    return [found]


def compile_lock(name: str, *, upgrade: bool, links: list[str], extra_constraints: list[Path]) -> None:
    target = lock_path(name)
    if name == "torch":
        sources = [str(TORCH_IN.relative_to(ROOT))]
    else:
        sources = ["pyproject.toml", "--extra", name, "--constraint", str(TORCH_IN.relative_to(ROOT))]
    command = [
        *uv_command(),
        "pip",
        "compile",
        *sources,
        "--output-file",
        str(target.relative_to(ROOT)),
        "--generate-hashes",
        "--python-version",
        PYTHON_VERSION,
        "--python-platform",
        PLATFORM,
        "--custom-compile-command",
        REGENERATE,
        "--quiet",
    ]
    for link in links:
        command += ["--find-links", link]
    for constraint in extra_constraints:
        command += ["--constraint", str(constraint)]
    if upgrade:
        command.append("--upgrade")
    if target.is_file():  # uv keeps the versions of the file it writes; our digest line goes first again
        target.write_text(_without_digest(target.read_text(encoding="utf-8")), encoding="utf-8")
    result = subprocess.run(command, cwd=ROOT)
    if result.returncode:
        sys.exit(f"requirements/lock.py: uv could not compile {target.relative_to(ROOT)} (see above)")
    text = _without_digest(target.read_text(encoding="utf-8"))
    target.write_text(f"{DIGEST_PREFIX}{inputs_digest()}\n{text}", encoding="utf-8")
    print(f"wrote {target.relative_to(ROOT)}")


def _without_digest(text: str) -> str:
    return text.partition("\n")[2] if text.startswith(DIGEST_PREFIX) else text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a lock is older than pyproject.toml")
    parser.add_argument("--upgrade", action="store_true", help="newest versions the ranges allow, not the locked ones")
    parser.add_argument(
        "--prefer", type=Path, help="a requirements file of versions to keep when compiling dev (e.g. a pip freeze)"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_locks()
        if stale:
            print(
                f"{', '.join(stale)}: out of date with pyproject.toml's dependencies; run `{REGENERATE}` "
                "and commit requirements/",
                file=sys.stderr,
            )
            return 1
        return 0
    links = find_links()
    dev = lock_path("dev")
    compile_lock("dev", upgrade=args.upgrade, links=links, extra_constraints=[args.prefer] if args.prefer else [])
    compile_lock("demo", upgrade=False, links=links, extra_constraints=[dev])
    compile_lock("torch", upgrade=False, links=links, extra_constraints=[dev])
    return 0


if __name__ == "__main__":
    sys.exit(main())
