"""Sharded builds: shards merged in example order give the cache a single process builds.

In process: shards of interleaved example subsets merged by explainer/pipeline/shards.py. End to end:
``python -m torch.distributed.run --nproc-per-node 2 -m explainer build`` on 127.0.0.1 (gloo, CPU),
compared with a single-process build; and a rank that fails leaves the old cache as it was.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from explainer.cache import schema

# The dataset-level steps run too (UMAP replaced by PCA: numba's compilation would dominate the test).
BUILD_FLAGS = ["--projection", "pca"]
# Differ by nature between two builds of the same data.
VOLATILE_MANIFEST_KEYS = {"created", "timings", "command", "sharding"}
FLOAT_TOLERANCE = dict(rtol=1e-4, atol=1e-5)  # batch composition and thread counts change the last bits


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def torchrun(model: Path, dataset: Path, out: Path, *, extra_env: dict | None = None, flags=BUILD_FLAGS):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(free_port()),
        "-m",
        "explainer",
        "build",
        "--model",
        str(model),
        "--dataset",
        str(dataset),
        "--out",
        str(out),
        *flags,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(extra_env or {})}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def drop_volatile(value):
    """A manifest or summary without what legitimately differs between runs (times, dates) and builds
    (activations are recorded in a single process's forward pass, in a second pass after shards merge)."""
    if isinstance(value, dict):
        volatile = ("seconds", "timings", "recorded_in")
        return {key: drop_volatile(item) for key, item in value.items() if key not in volatile}
    if isinstance(value, list):
        return [drop_volatile(item) for item in value]
    return value


def assert_json_close(left, right, path="$"):
    if isinstance(left, dict):
        assert set(left) == set(right), f"{path}: keys differ"
        for key in left:
            assert_json_close(left[key], right[key], f"{path}.{key}")
    elif isinstance(left, list):
        assert len(left) == len(right), f"{path}: lengths differ"
        for index, (a, b) in enumerate(zip(left, right)):
            assert_json_close(a, b, f"{path}[{index}]")
    elif isinstance(left, float) or isinstance(right, float):
        assert left == pytest.approx(right, rel=1e-4, abs=1e-6), path
    else:
        assert left == right, path


def assert_same_cache(left: Path, right: Path) -> None:
    """Same files; tables equal (floats within tolerance); arrays close; metrics and manifest equal."""
    names = sorted(path.name for path in left.iterdir())
    assert names == sorted(path.name for path in right.iterdir())
    for name in names:
        if name.endswith(".parquet"):
            a, b = pq.read_table(left / name), pq.read_table(right / name)
            assert a.schema == b.schema, name
            frame_a, frame_b = a.to_pandas(), b.to_pandas()
            for column in frame_a.columns:
                if frame_a[column].dtype.kind == "f":
                    np.testing.assert_allclose(
                        frame_a[column], frame_b[column], equal_nan=True, err_msg=f"{name}:{column}", **FLOAT_TOLERANCE
                    )
                else:
                    assert a.column(column).equals(b.column(column)), f"{name}:{column}"
        elif name.endswith(".npy"):
            a = np.load(left / name, allow_pickle=False)
            b = np.load(right / name, allow_pickle=False)
            assert a.shape == b.shape and a.dtype == b.dtype, name
            np.testing.assert_allclose(
                a.astype(np.float64),
                b.astype(np.float64),
                err_msg=name,
                atol=2e-3,
                rtol=2e-3 if a.dtype == np.float16 else 1e-4,
            )
        elif name == schema.MANIFEST:
            a, b = (json.loads((path / name).read_text()) for path in (left, right))
            for manifest in (a, b):
                del manifest["options"]["out"]  # the two caches' directories: every other option is the same
            kept = [key for key in a if key not in VOLATILE_MANIFEST_KEYS]
            assert_json_close({k: drop_volatile(a[k]) for k in kept}, {k: drop_volatile(b[k]) for k in kept})
        elif name.endswith(".json"):
            assert_json_close(*(drop_volatile(json.loads((path / name).read_text())) for path in (left, right)))


@pytest.fixture(scope="module")
def single_build(tiny_model, tiny_dataset, tmp_path_factory):
    from explainer.cli import main

    out = tmp_path_factory.mktemp("sharding") / "single"
    assert (
        main(["build", "--model", str(tiny_model), "--dataset", str(tiny_dataset), "--out", str(out), *BUILD_FLAGS])
        == 0
    )
    return out


def test_block_split_balances_subwords_and_covers_every_example():
    from explainer.pipeline.align import Alignment
    from explainer.pipeline.shards import block_split

    sizes = np.array([5, 50, 5, 5, 5, 5, 5, 20])
    offsets = np.r_[0, np.cumsum(sizes)]
    alignment = Alignment(
        input_ids=np.zeros(offsets[-1]),
        word_index=None,
        label_id=None,
        window=None,
        subword_offsets=offsets,
        word_offsets=offsets,
        word_rows=None,
        word_n_subwords=None,
        windowed=None,
    )
    for parts in (1, 2, 3, 12):
        blocks = block_split(alignment, parts)
        assert len(blocks) == parts
        assert np.array_equal(np.concatenate(blocks), np.arange(len(sizes)))
    halves = [sizes[block].sum() for block in block_split(alignment, 2)]
    assert max(halves) < sizes.sum()  # both ranks get work


def test_shards_of_interleaved_subsets_merge_into_the_single_process_cache(
    single_build, tiny_model, tiny_dataset, tmp_path
):
    """Non-contiguous subsets (as crossval folds are), merged in process: the merge itself is exact."""
    from explainer.cache.writer import CacheWriter
    from explainer.pipeline import pipeline, shards
    from explainer.pipeline.model import quiet_transformers

    options = pipeline.BuildOptions(
        model=str(tiny_model),
        dataset=str(tiny_dataset),
        out=str(tmp_path / "merged"),
        projection=BUILD_FLAGS[BUILD_FLAGS.index("--projection") + 1],
    )
    with quiet_transformers():
        prepared = pipeline.prepare(options)
    n_examples = len(prepared.aligned.examples)
    parts = [np.arange(n_examples)[np.arange(n_examples) % 3 == part] for part in range(3)]
    # Small batches in a shard: other batch compositions than the single build, as on other ranks.
    directories = [tmp_path / f"shard-{index}" for index in range(len(parts))]
    for ids, directory in zip(parts, directories):
        shards.write_shard(prepared, ids, directory, batch_size=5, progress=False)
    with CacheWriter(options.out) as writer:
        predictions, infos = shards.merge_shards(writer, prepared, directories)
        pipeline.finish_cache(writer, options, prepared, predictions, started=0.0, progress=False)
    assert [info["examples"] for info in infos] == [len(ids) for ids in parts]
    assert_same_cache(single_build, tmp_path / "merged")

    with pytest.raises(Exception, match="miss"):  # a missing shard is refused, nothing written
        with CacheWriter(tmp_path / "partial") as writer:
            shards.merge_shards(writer, prepared, directories[:2])
    assert not (tmp_path / "partial").exists()


def test_torchrun_with_two_ranks_builds_the_single_process_cache_and_a_failed_rank_keeps_the_old_one(
    single_build, tiny_model, tiny_dataset
):
    out = single_build.parent / "sharded"
    result = torchrun(tiny_model, tiny_dataset, out)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((out / schema.MANIFEST).read_text())
    assert manifest["sharding"]["ranks"] == 2 and manifest["sharding"]["backend"] == "gloo"
    assert sum(manifest["sharding"]["examples"]) == manifest["counts"]["examples"]
    assert all(manifest["sharding"]["examples"])  # both ranks did part of the work
    assert_same_cache(single_build, out)

    # Rank 1 fails after its forward pass: every rank stops, the cache written above stays as it was.
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    failed = torchrun(
        tiny_model,
        tiny_dataset,
        out,
        extra_env={"EXPLAINER_TEST_FAULT": "1:raise"},
        flags=["--projection", "none", "--label-quality", "none", "--activations-sample", "0"],
    )
    assert failed.returncode != 0
    assert "error: sharded build failed on rank 1 of 2: RuntimeError: fault injected" in failed.stderr
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert sorted(path.name for path in out.parent.iterdir() if path.name.startswith(f".{out.name}.")) == []


@pytest.mark.slow
def test_a_rank_killed_outright_leaves_the_old_cache_intact(single_build, tiny_model, tiny_dataset):
    """Rank 1 dies with SIGKILL after its forward pass: torchrun stops rank 0 (SIGTERM), which cleans up."""
    out = single_build
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    killed = torchrun(
        tiny_model,
        tiny_dataset,
        out,
        extra_env={"EXPLAINER_TEST_FAULT": "1:kill"},
        flags=["--projection", "none", "--label-quality", "none", "--activations-sample", "0"],
    )
    assert killed.returncode != 0
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    # Whatever a killed rank 0 could not remove, the next build of the same cache clears.
    from explainer.cli import main

    (out.parent / f".{out.name}.shards-999999" / "rank-1").mkdir(parents=True, exist_ok=True)
    assert (
        main(["build", "--model", str(tiny_model), "--dataset", str(tiny_dataset), "--out", str(out), *BUILD_FLAGS])
        == 0
    )
    assert sorted(path.name for path in out.parent.iterdir() if path.name.startswith(f".{out.name}.")) == []
