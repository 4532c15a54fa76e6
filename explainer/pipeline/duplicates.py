"""Build step ``duplicates``: Find duplicates' exact groups and near pairs, found once by the build.

The neighbour search over every example embedding (down to the lowest threshold the tab's slider
offers) and the label conflicts of the pairs it finds took each app worker seconds (7.7 s on CoNLL-2003
train). The step writes them as memory-mapped Arrow files (``schema.DUPLICATE_GROUPS``,
``schema.NEAR_DUPLICATES``); the tab only filters them by threshold. :func:`find_duplicates` is also
what the tab runs for a cache built before this step.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from explainer.analysis import duplicates as dup
from explainer.cache import schema
from explainer.cache.artefacts import DuplicateFindings, Missing
from explainer.cache.reader import Cache
from explainer.pipeline.steps import StepContext, written_cache

# The examples' columns the search and the label conflicts need.
EXAMPLE_COLUMNS = ["example_id", "words", "gold_tags"]
# The stored frames' types (also when a frame is empty, when pandas cannot tell a list column's type).
GROUPS_SCHEMA = pa.schema(
    [
        ("group", pa.int64()),
        ("text", pa.string()),
        ("size", pa.int64()),
        ("example_ids", pa.list_(pa.int64())),
        ("variants", pa.int64()),
        ("inconsistent", pa.bool_()),
    ]
)
NEAR_SCHEMA = pa.schema(
    [
        ("a", pa.int64()),
        ("b", pa.int64()),
        ("similarity", pa.float64()),
        ("conflicts", pa.int64()),
        ("inconsistent", pa.bool_()),
    ]
)


def check_options(options: Any) -> None:
    """Nothing to check: the step has no option and always runs."""


def find_duplicates(cache: Cache) -> DuplicateFindings:
    """The exact groups, and the near pairs at ``dup.LOWEST_THRESHOLD`` when the cache has example embeddings.

    Without embeddings the groups need only each example's text and its gold tags joined in Arrow (no
    Python list per example); with them, words and tags as lists for the pairs' label conflicts.
    """
    embeddings = cache.example_embeddings()
    if isinstance(embeddings, Missing):
        tags = cache.arrow_table("examples", ["gold_tags"]).column("gold_tags")
        return dup.duplicate_findings(
            cache.table("examples", ["example_id", "text"]), None, tag_keys=dup.joined_tags(tags)
        )
    return dup.duplicate_findings(cache.table("examples", EXAMPLE_COLUMNS), embeddings)


def build_step(context: StepContext) -> dict[str, Any]:
    """Find the duplicates of the cache being written and store them; return their counts."""
    found = find_duplicates(written_cache(context))
    groups = pa.Table.from_pandas(found.groups, schema=GROUPS_SCHEMA, preserve_index=False)
    context.writer.write_mapped_table(schema.DUPLICATE_GROUPS, groups)
    if found.near is not None:
        near = pa.Table.from_pandas(found.near, schema=NEAR_SCHEMA, preserve_index=False)
        context.writer.write_mapped_table(schema.NEAR_DUPLICATES, near)
    return {
        "groups": len(found.groups),
        "near_pairs": None if found.near is None else len(found.near),
        "lowest_threshold": dup.LOWEST_THRESHOLD,
    }
