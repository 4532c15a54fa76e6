"""Sharded builds: ``torchrun --nproc-per-node N -m explainer build ...`` splits the forward pass over ranks.

Every rank loads the data and the model and tokenises the whole dataset (cheap next to the forward
pass), then runs the model over its own block of examples (blocks of about equal numbers of
subwords) and writes a shard (explainer/pipeline/shards.py) under ``.<name>.shards-<id>/`` beside
``--out``, which must therefore be on a filesystem every rank sees. Rank 0 holds the cache's lock
from the start, and once every shard is written it merges them into the cache and computes the
dataset-level results and analyses there, once.

The ranks exchange only small status messages (``all_gather_object``): the outputs travel through
the shared filesystem. The process group is gloo on CPU; on GPUs it is ``cuda:nccl`` with gloo for
those CPU-side messages, and each rank runs on ``cuda:LOCAL_RANK``. A rank that fails reports its
error to the others, so every rank stops with that one line and rank 0 drops its temporary files:
the old cache stays as it was. A rank that dies outright (killed, out of memory) breaks the group,
and torchrun stops the others (SIGTERM, which ``explainer build`` handles as an interruption that cleans
up: explainer/cli.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from explainer.errors import ExplainerError

# Test hook, read only here: "RANK:raise" makes that rank fail after its forward pass, "RANK:kill"
# kills it there (SIGKILL). Used by tests/pipeline/test_shards.py to check that the old cache survives.
FAULT_VARIABLE = "EXPLAINER_TEST_FAULT"
# Ranks wait for the slowest shard at the status exchange; beyond this they give up.
GROUP_TIMEOUT = timedelta(hours=12)


def world_size() -> int:
    """Processes in the torchrun group this process belongs to (1 when not launched by torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def _fault(rank: int) -> str | None:
    value = os.environ.get(FAULT_VARIABLE, "")
    target, _, action = value.partition(":")
    return action if target == str(rank) and action in ("raise", "kill") else None


def build_sharded(options, *, progress: bool = True, started: float | None = None) -> dict | None:
    """This rank's part of a sharded build; rank 0 returns the manifest, the other ranks None.

    Raises
    ------
    ExplainerError
        On every rank when any rank failed; the old cache at ``options.out`` is left as it was.
    """
    import torch
    import torch.distributed as dist

    from explainer.cache.writer import CacheWriter, check_output
    from explainer.pipeline import pipeline, shards
    from explainer.pipeline.model import quiet_transformers

    started = time.perf_counter() if started is None else started
    rank, size = int(os.environ["RANK"]), world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = options.device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)  # "cuda" in load_model is now this rank's GPU
    dist.init_process_group(backend="cpu:gloo,cuda:nccl" if use_cuda else "gloo", timeout=GROUP_TIMEOUT)
    out = check_output(options.out, force=options.force)

    def agree(error: BaseException | None, payload=None) -> list:
        """Exchange (error, payload) with every rank; raise on all ranks if any failed."""
        message = (
            None
            if error is None
            else (str(error) if isinstance(error, ExplainerError) else f"{type(error).__name__}: {error}")
        )
        # Placeholders that all_gather_object replaces; payloads are whatever each rank sent.
        gathered: list[tuple[str | None, Any]] = [(None, None)] * size
        dist.all_gather_object(gathered, (message, payload))
        failed = [(index, text) for index, (text, _) in enumerate(gathered) if text is not None]
        if failed:
            if isinstance(error, (ExplainerError, KeyboardInterrupt)):
                raise error
            if error is not None:
                raise ExplainerError(
                    f"sharded build failed on rank {rank} of {size}: {message}; {out} was left as it was"
                ) from error
            index, text = failed[0]
            raise ExplainerError(f"sharded build failed on rank {index} of {size}: {text}; {out} was left as it was")
        return [item for _, item in gathered]

    try:
        with contextlib.ExitStack() as stack, quiet_transformers():
            root = writer = None
            error = None
            try:
                prepared = pipeline.prepare(options)
                if rank == 0:
                    writer = stack.enter_context(CacheWriter(out, force=options.force))
                    shards.clear_leftover_shards(out)  # of killed builds; we hold the lock
                    writer.check_space(*pipeline.estimate_bytes(options, prepared, ranks=size))
                    root = shards.shard_root(out, f"{os.getpid()}")
                    root.mkdir()
                    stack.callback(shutil.rmtree, root, ignore_errors=True)
            except BaseException as caught:  # every failure must reach the other ranks
                error = caught
            root = Path(agree(error, str(root) if root else None)[0])

            error, info = None, None
            mark = time.perf_counter()
            try:
                blocks = shards.block_split(prepared.alignment, size)
                info = shards.write_shard(
                    prepared,
                    blocks[rank],
                    root / f"rank-{rank}",
                    batch_size=options.batch_size,
                    progress=progress and rank == 0,
                    label=f"forward (rank {rank}/{size})",
                    fault=_fault(rank),
                )
            except BaseException as caught:  # as above: agree() tells every rank
                error = caught
            infos = agree(error, info)
            if rank != 0:
                return None
            assert writer is not None  # rank 0 opened it, or agree() raised on every rank
            prepared.timings["forward"] = time.perf_counter() - mark
            mark = time.perf_counter()
            predictions, _ = shards.merge_shards(writer, prepared, [root / f"rank-{index}" for index in range(size)])
            prepared.timings["merge"] = time.perf_counter() - mark
            sharding = {
                "ranks": size,
                "backend": dist.get_backend(),
                "examples": [item["examples"] for item in infos],
                "subwords": [item["subwords"] for item in infos],
                "devices": [item["device"] for item in infos],
                "forward_seconds": [item["seconds"] for item in infos],
            }
            return pipeline.finish_cache(
                writer,
                options,
                prepared,
                predictions,
                started=started,
                progress=progress,
                manifest_extra={"sharding": sharding},
            )
    finally:
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


def rank_note() -> str | None:
    """What a rank other than 0 prints when its shard is done (None on rank 0 or without torchrun)."""
    if world_size() <= 1 or os.environ.get("RANK", "0") == "0":
        return None
    return f"rank {os.environ['RANK']} of {world_size()}: shard written; rank 0 merges it into the cache"
