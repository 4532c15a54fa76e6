"""`explainer build` on a small disk: refused up front when the estimate does not fit, and a write that
fails later ends with one `error:` line, exit status 2, no temporary files and the old cache as it was."""

from __future__ import annotations

import pytest
from helpers import fill_disk, small_filesystem

from explainer.cache import schema
from explainer.cache.reader import open_cache
from explainer.cache.writer import CacheWriter
from explainer.cli import main
from explainer.pipeline import pipeline
from explainer.pipeline.options import BuildOptions


@pytest.fixture
def small_fs(tmp_path):
    with small_filesystem(tmp_path / "fs") as directory:
        yield directory


def build(capsys, model, data, out) -> tuple[int, list[str]]:
    """Run the CLI; return its status and the lines of stderr (progress bars' carriage returns split too)."""
    capsys.readouterr()
    status = main(["build", "--model", str(model), "--dataset", str(data), "--out", str(out)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, [line for line in err.replace("\r", "\n").splitlines() if line.strip()]


def siblings(out) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def test_the_estimate_covers_what_the_build_writes(tiny_model, tiny_dataset, tiny_cache):
    options = BuildOptions(model=str(tiny_model), dataset=str(tiny_dataset), out=str(tiny_cache))
    prepared = pipeline.prepare(options)
    needed, detail = pipeline.estimate_bytes(options, prepared)
    written = sum(path.stat().st_size for path in tiny_cache.iterdir())
    # An upper estimate, but not an absurd one (the margin is documented at OTHER_BYTES_PER_SUBWORD).
    assert written <= needed <= 4 * written + pipeline.FIXED_BYTES
    assert "of arrays" in detail and "of activations" in detail and "of tables" in detail
    # A sharded build also holds its shards' probabilities, hidden states and predictions until the merge.
    n_subwords, hidden_size = prepared.alignment.n_subwords, prepared.loaded.model.config.hidden_size
    shards = n_subwords * (len(prepared.loaded.labels) * 4 + hidden_size * 2 + 14)
    sharded, sharded_detail = pipeline.estimate_bytes(options, prepared, ranks=2)
    assert sharded == needed + shards
    assert "of arrays and shards" in sharded_detail


@pytest.fixture
def old_cache(small_fs, tiny_model, tiny_dataset, capsys):
    out = small_fs / "cache"
    assert build(capsys, tiny_model, tiny_dataset, out)[0] == 0
    return out


def assert_failed_cleanly(status, lines, out, before, *fragments):
    assert status == 2
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and errors[0] == lines[-1], lines
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert siblings(out) == []
    assert (out / schema.MANIFEST).read_text() == before
    assert open_cache(out).manifest["counts"]["examples"] > 0


def test_a_build_that_does_not_fit_is_refused_before_the_forward_pass(
    old_cache, small_fs, tiny_model, tiny_dataset, capsys, monkeypatch
):
    before = (old_cache / schema.MANIFEST).read_text()
    fill_disk(small_fs, leave=512 * 1024)
    forward_ran = []
    monkeypatch.setattr(pipeline, "_forward", lambda *args, **kwargs: forward_ran.append(True))
    status, lines = build(capsys, tiny_model, tiny_dataset, old_cache)
    assert_failed_cleanly(
        status,
        lines,
        old_cache,
        before,
        f"error: not enough free space for the cache at {old_cache}: the build needs about ",
        f"{small_fs} has 524.3 kB free; free some space or pass --out on another filesystem",
    )
    assert lines == [lines[-1]]  # refused before any progress bar
    assert not forward_ran


def fill_then(function, directory):
    def wrapped(*args, **kwargs):
        fill_disk(directory)
        return function(*args, **kwargs)

    return wrapped


# Where the disk fills up after the up-front check (made to pass): the file whose write fails first.
FILL_POINTS = {
    # activations.npy is opened first: the forward pass records the sample's FFN activations into it
    "forward pass": (CacheWriter, "check_space", schema.ACTIVATIONS),
    "tables": (pipeline, "_write_results", schema.SUBWORDS),
    "analyses": (pipeline, "run_steps", None),
}


@pytest.mark.parametrize("point", list(FILL_POINTS))
def test_a_disk_that_fills_during_the_build_ends_with_one_error(
    old_cache, small_fs, tiny_model, tiny_dataset, capsys, monkeypatch, point
):
    before = (old_cache / schema.MANIFEST).read_text()
    monkeypatch.setattr(pipeline, "estimate_bytes", lambda *args, **kwargs: (0, "nothing"))
    owner, name, failing = FILL_POINTS[point]
    monkeypatch.setattr(owner, name, fill_then(getattr(owner, name), small_fs))
    status, lines = build(capsys, tiny_model, tiny_dataset, old_cache)
    assert_failed_cleanly(
        status,
        lines,
        old_cache,
        before,
        f"error: writing {failing or ''}",
        f" into {old_cache} failed: ",
        f"(free space on {small_fs}: 0 B when it failed, ",
        "once the build's temporary files were removed); the old cache (if any) was left as it was; "
        "free some space or pass --out on another filesystem",
    )
    if failing:
        assert "No space left on device" in lines[-1]
