"""requirements/: the locks `make install` and `make demo` install match pyproject.toml (checked without a network)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys

import pytest
import tomllib
from helpers import REPO_ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCK_SCRIPT = REPO_ROOT / "requirements" / "lock.py"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)")


def load_lock_module():
    spec = importlib.util.spec_from_file_location("requirements_lock", LOCK_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pins(path) -> dict[str, str]:
    """``{canonical name: version}`` of a lock, each entry checked to carry a hash."""
    found, lines = {}, path.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        match = PIN.match(line)
        if match:
            assert line.endswith("\\") and "--hash=sha256:" in lines[index + 1], f"{path.name}: {line} has no hash"
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def direct_requirements(extra: str) -> list[Requirement]:
    """The base dependencies and those of ``extra``, with the project's own extras (``ner-explainer[demo]``) expanded."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted, extras, seen = list(map(Requirement, project["dependencies"])), [extra], set()
    while extras:
        name = extras.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in project["optional-dependencies"][name]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == canonicalize_name(project["name"]):
                extras += sorted(requirement.extras)
            else:
                wanted.append(requirement)
    return wanted


def test_the_locks_were_compiled_from_the_current_pyproject():
    result = subprocess.run([sys.executable, str(LOCK_SCRIPT), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("extra", ["dev", "demo"])
def test_every_dependency_is_pinned_with_hashes_within_its_range(extra):
    locked = pins(REPO_ROOT / "requirements" / f"{extra}.txt")
    for requirement in direct_requirements(extra):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"requirements/{extra}.txt lacks {requirement}: run make lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"requirements/{extra}.txt pins {name}=={locked[name]}, outside {requirement}: run make lock"
        )


def test_torch_is_the_cpu_build_and_every_lock_agrees_with_dev_on_shared_versions():
    dev, demo, torch = (pins(REPO_ROOT / "requirements" / f"{name}.txt") for name in ("dev", "demo", "torch"))
    pinned = (REPO_ROOT / "requirements" / "torch.in").read_text().strip()
    assert pinned.endswith("+cpu") and dev["torch"] == demo["torch"] == torch["torch"] == pinned.split("==")[1]
    assert not [name for name in dev if name.startswith("nvidia-")]  # no CUDA libraries came along
    for other in (demo, torch):
        assert {name: other[name] for name in other} == {name: dev[name] for name in other if name in dev}


def test_check_fails_and_names_make_lock_when_a_dependency_changes(tmp_path):
    (tmp_path / "requirements").mkdir()
    for name in ("lock.py", "torch.in", "dev.txt", "demo.txt", "torch.txt"):
        shutil.copy(REPO_ROOT / "requirements" / name, tmp_path / "requirements" / name)
    pyproject = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    lock = load_lock_module()
    assert lock.stale_locks(tmp_path) == []
    changed = pyproject.replace('"tqdm>=4.66",', '"tqdm>=4.66",\n    "rich>=13",')
    assert changed != pyproject
    (tmp_path / "pyproject.toml").write_text(changed, encoding="utf-8")
    assert lock.stale_locks(tmp_path) == ["requirements/dev.txt", "requirements/demo.txt", "requirements/torch.txt"]
    result = subprocess.run(
        [sys.executable, str(tmp_path / "requirements" / "lock.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 1 and "run `make lock`" in result.stderr
