"""The test of a module is found from its path: ``explainer/<package>/<module>.py`` is tested in
``tests/<package>/test_<module>.py`` (or ``test_<module>_<aspect>.py``, e.g. ``_browser``).

``tests/deploy/`` holds the end-to-end tests of the shipped stack (``deploy/``, ``gunicorn.conf.py``).
"""

from __future__ import annotations

from pathlib import Path

from helpers import REPO_ROOT

TESTS = REPO_ROOT / "tests"
PACKAGE = REPO_ROOT / "explainer"
STACK_TESTS = TESTS / "deploy"


def module_of(test_file: Path, *, package: Path = PACKAGE, tests: Path = TESTS) -> Path | None:
    """The module or package ``test_file`` tests, by its path; None when its name matches none."""
    folder = package / test_file.parent.relative_to(tests)
    stem = test_file.stem.removeprefix("test_")
    candidates = sorted(folder.glob("*.py")) + sorted(path for path in folder.glob("*") if path.is_dir())
    for candidate in candidates:
        name = candidate.stem if candidate.suffix == ".py" else candidate.name
        if name != "__init__" and (stem == name or stem.startswith(name + "_")):
            return candidate
    return None


def test_every_test_file_names_the_module_it_tests():
    test_files = [path for path in TESTS.rglob("test_*.py") if STACK_TESTS not in path.parents]
    assert len(test_files) > 30
    orphans = [str(path.relative_to(REPO_ROOT)) for path in test_files if path != Path(__file__).resolve()]
    orphans = [name for name in orphans if module_of(REPO_ROOT / name) is None]
    assert not orphans, f"name these after the module they test (tests/<package>/test_<module>.py): {orphans}"


def test_module_of_refuses_a_name_that_is_no_module(tmp_path):
    (tmp_path / "explainer" / "cache").mkdir(parents=True)
    (tmp_path / "explainer" / "cache" / "reader.py").touch()
    (tmp_path / "tests" / "cache").mkdir(parents=True)
    found = module_of(
        tmp_path / "tests" / "cache" / "test_reader_lazy.py", package=tmp_path / "explainer", tests=tmp_path / "tests"
    )
    assert found == tmp_path / "explainer" / "cache" / "reader.py"
    for wrong in ("test_readers.py", "test_tables.py"):
        assert (
            module_of(tmp_path / "tests" / "cache" / wrong, package=tmp_path / "explainer", tests=tmp_path / "tests")
            is None
        )
