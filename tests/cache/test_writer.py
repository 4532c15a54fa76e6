"""Writing a cache (explainer.cache.writer): the swap into place, killed at each step; space and write failures."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from helpers import REPO_ROOT, fill_disk, small_filesystem

from explainer.cache import schema
from explainer.cache.reader import open_cache
from explainer.cache.writer import CacheWriter, exchange, open_allocated_array, signals_deferred
from explainer.errors import ExplainerError


def siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def test_exchange_swaps_two_directories_in_one_step(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "a").write_text("first")
    (second / "b").write_text("second")
    if not exchange(first, second):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available on this system or filesystem")
    assert (first / "b").read_text() == "second"
    assert (second / "a").read_text() == "first"


def test_exchange_reports_a_missing_path(tmp_path):
    (tmp_path / "here").mkdir()
    with pytest.raises(FileNotFoundError):
        exchange(tmp_path / "here", tmp_path / "missing")


# A build in a subprocess that copies ``source`` (a cache) into its temporary directory, marks the
# manifest "new" and commits, after the test patches one step of the swap to SIGKILL the process.
SWAP_SCRIPT = """
import json, os, shutil, signal, sys
from pathlib import Path
from explainer.cache import writer as module

out, source, step = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
die = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
real_exchange, real_rename, real_rmtree = module.exchange, os.rename, shutil.rmtree

def exchange_then_die(first, second):
    assert real_exchange(first, second), "no RENAME_EXCHANGE here"
    die()

def rename_then_die(first, second):
    real_rename(first, second)
    die()

def remove_some_then_die(path, **kwargs):
    next(Path(path).glob("*.parquet")).unlink()  # the old cache, half removed
    die()

with module.CacheWriter(out) as writer:
    for path in source.iterdir():
        shutil.copy(path, writer.path / path.name)
    manifest = json.loads((source / "manifest.json").read_text())
    manifest["created"] = "new"
    if step == "before the swap":
        module.exchange = die
    elif step == "after the exchange":
        module.exchange = exchange_then_die
    elif step == "while the old cache is removed":
        module.shutil.rmtree = remove_some_then_die
    elif step == "between the two renames (no exchange)":
        module.exchange = lambda first, second: False
        module.os.rename = rename_then_die
    writer.commit(manifest)
"""
SWAP_STEPS = (
    "before the swap",
    "after the exchange",
    "while the old cache is removed",
    "between the two renames (no exchange)",
)


@pytest.mark.parametrize("step", SWAP_STEPS)
def test_a_build_killed_at_each_step_of_the_swap_leaves_a_cache_at_out(tiny_cache, tmp_path, step):
    out = shutil.copytree(tiny_cache, tmp_path / "cache")
    manifest = json.loads((out / schema.MANIFEST).read_text())
    manifest["created"] = "old"
    (out / schema.MANIFEST).write_text(json.dumps(manifest))
    killed = subprocess.run(
        [sys.executable, "-c", SWAP_SCRIPT, str(out), str(tiny_cache), step],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if step.endswith("(no exchange)"):
        # Where the system cannot exchange, the old cache is aside until the next build puts it back.
        assert not out.exists() and [name for name in siblings(out) if ".old-" in name]
    else:
        served = open_cache(out)
        assert served.manifest["created"] == ("old" if step == "before the swap" else "new")
        assert len(served.words) == len(open_cache(tiny_cache).words)
    with CacheWriter(out):  # the next build clears what the killed one left
        assert open_cache(out).manifest["created"] in ("old", "new")
        assert [name for name in siblings(out) if ".tmp-" in name] == [f".{out.name}.tmp-{os.getpid()}"]
    assert siblings(out) == []
    assert open_cache(out).manifest["created"] in ("old", "new")


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_wait_for_the_end_of_the_swap(number):
    received = []
    previous = signal.signal(number, lambda signum, frame: received.append(signum))
    # A thread that does not hold the signal, as torch's: the kernel may deliver it there.
    worker = threading.Thread(target=time.sleep, args=(1,))
    worker.start()
    try:
        with signals_deferred():
            os.kill(os.getpid(), number)
            time.sleep(0.05)  # time for the handler to run, were the signal not held
            assert received == []
        assert received == [number]
    finally:
        signal.signal(number, previous)
        worker.join()


def test_a_completed_swap_leaves_only_the_new_cache(tiny_cache, tmp_path):
    out = shutil.copytree(tiny_cache, tmp_path / "cache")
    with CacheWriter(out) as writer:
        for path in tiny_cache.iterdir():
            shutil.copy(path, writer.path / path.name)
        manifest = json.loads((tiny_cache / schema.MANIFEST).read_text())
        writer.commit({**manifest, "created": "new"})
    assert open_cache(out).manifest["created"] == "new"
    assert siblings(out) == []


# --- space ----------------------------------------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path):
    with small_filesystem(tmp_path / "fs") as directory:
        yield directory


def test_an_array_is_allocated_on_disk_before_it_is_written(small_fs):
    fill_disk(small_fs, leave=64 * 1024)
    # A sparse memory map would be created here and kill the process with SIGBUS at the first write.
    with pytest.raises(OSError) as raised:
        open_allocated_array(small_fs / "big.npy", (1024, 1024), np.float32)
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(small_fs / "big.npy")
    array = open_allocated_array(small_fs / "small.npy", (100, 10), np.float32)
    array[:] = 1.0
    array.flush()
    del array
    assert np.load(small_fs / "small.npy").sum() == 1000


def test_check_space_refuses_with_needed_and_free(small_fs):
    out = small_fs / "cache"
    with pytest.raises(ExplainerError) as raised, CacheWriter(out) as writer:
        writer.check_space(9 * 2**20, "arrays and tables")
    message = str(raised.value)
    assert f"not enough free space for the cache at {out}" in message
    assert "needs about 9.4 MB (arrays and tables)" in message
    assert f"{small_fs} has 8.4 MB free" in message
    assert siblings(out) == []


@pytest.mark.parametrize("write", ["table", "json", "array", "numpy"])
def test_a_write_that_fails_for_space_is_one_error_and_the_old_cache_stays(small_fs, tiny_cache, write):
    out = shutil.copytree(tiny_cache, small_fs / "cache")
    before = (out / schema.MANIFEST).read_text()
    with pytest.raises(ExplainerError) as raised, CacheWriter(out) as writer:
        fill_disk(small_fs)
        if write == "table":
            writer.write_table(schema.WORDS, pq.read_table(tiny_cache / schema.WORDS))
        elif write == "json":
            writer.write_json(schema.METRICS, {"x": "y" * 100_000})
        elif write == "array":
            writer.open_array(schema.HIDDEN, (1000, 1000), np.float16)
        else:  # a build step's own np.save (numpy's OSError names no file: the file written last is named)
            np.save(writer.path / schema.HIDDEN, np.zeros((1000, 1000), np.float16))
    name = {"table": schema.WORDS, "json": schema.METRICS}.get(write, schema.HIDDEN)
    message = str(raised.value)
    assert message.startswith(f"writing {name} into {out} failed: No space left on device"), message
    assert f"(free space on {small_fs}: 0 B when it failed, " in message
    assert message.endswith(
        "the old cache (if any) was left as it was; free some space or pass --out on another filesystem"
    )
    assert isinstance(raised.value.__cause__, OSError)
    assert siblings(out) == []
    assert (out / schema.MANIFEST).read_text() == before
    assert len(open_cache(out).words) == len(open_cache(tiny_cache).words)


def test_a_write_that_fails_for_another_reason_says_why(tmp_path):
    out = tmp_path / "cache"
    with pytest.raises(ExplainerError) as raised, CacheWriter(out) as writer:
        raise PermissionError(errno.EACCES, "Permission denied", str(writer.path / schema.WORDS))
    assert str(raised.value).startswith(f"writing {schema.WORDS} into {out} failed: Permission denied (free space on ")
    assert str(raised.value).endswith("the old cache (if any) was left as it was")
    assert siblings(out) == []


def test_an_error_that_is_not_a_write_keeps_its_type(tmp_path):
    with pytest.raises(RuntimeError), CacheWriter(tmp_path / "cache"):
        raise RuntimeError("a bug")
    assert siblings(tmp_path / "cache") == []
