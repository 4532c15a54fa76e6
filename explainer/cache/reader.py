"""Open a cache written by ``explainer build`` (read-only; what the app uses).

Tables are read with pyarrow into pandas DataFrames on first use and kept (thread-safe: the app
runs under gunicorn threads); arrays are memory-mapped. The rows of a few examples are read by row
group (:meth:`Cache.example_rows`), so pages that show one example never load a whole table: a
worker's memory grows with what its pages show, not with the cache. This module does not import torch.
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from explainer.cache import schema
from explainer.cache.artefacts import (
    ActivationSample,
    DuplicateFindings,
    Factorisation,
    LabelErrorFindings,
    LabelQualityScores,
    Missing,
    Projections,
    SliceResults,
    TrainingDynamics,
)
from explainer.errors import ExplainerError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

T = TypeVar("T")

_TABLE_NAMES = {name.removesuffix(".parquet"): name for name in schema.TABLES}
ACTIVATIONS_OPTION = "--activations-sample N"
LABEL_QUALITY_NOT_BUILT = (
    "No label-quality scores in this cache: rebuild it with `--label-quality self_confidence` "
    "(the default of explainer build)."
)
# Decoded row groups kept per opened cache (least recently used dropped first), in bytes of Arrow data.
ROW_GROUP_BUDGET = 32 * 2**20


class Cache:
    """One cache directory: manifest, metrics, tables (lazily, memoised) and memory-mapped arrays.

    Use :func:`open_cache`, which checks the cache before returning one.
    """

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self._lock = threading.RLock()
        self._memo: dict[str, Any] = {}
        # (file, index, columns) -> pyarrow Table
        self._row_groups: OrderedDict[tuple[str, int, tuple[str, ...] | None], pa.Table] = OrderedDict()
        # A rebuild swaps in a new directory at the same path: the inode tells the two apart.
        self._identity = _directory_identity(self.path)

    @classmethod
    def open(cls, path: str | Path) -> Cache:
        """The checked cache at ``path`` (:func:`open_cache`): ``Cache.open("caches/tiny").examples``."""
        return open_cache(path)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every table of the cache as a pandas DataFrame, by name: examples, words, subwords, spans and
        span_errors, then each finding the build steps wrote (data_checks, ...) that this cache has."""
        frames = {name: self.table(name) for name in _TABLE_NAMES}
        for name, finding in self.step_tables().items():
            frames[name] = finding
        return frames

    def step_tables(self) -> dict[str, pd.DataFrame]:
        """The build steps' findings this cache holds as tables (a cache built without a step lacks its key)."""
        found: dict[str, pd.DataFrame] = {}
        checks = self.data_checks()
        if not isinstance(checks, Missing):
            found["data_checks"] = checks
        scores = self.label_quality()
        if not isinstance(scores, Missing):
            found["word_label_quality"] = scores.words
            found["example_label_quality"] = scores.examples
        duplicates = self.duplicate_findings()
        if not isinstance(duplicates, Missing):
            found["duplicate_groups"] = duplicates.groups
            if duplicates.near is not None:
                found["near_duplicates"] = duplicates.near
        label_errors = self.findings()
        if not isinstance(label_errors, Missing):
            found["findings"] = label_errors.table
        slices = self.slices()
        if not isinstance(slices, Missing):
            found["slice_buckets"] = slices.buckets
            found["weak_slices"] = slices.weak
        return found

    def is_current(self) -> bool:
        """Whether ``path`` is still the directory that was opened (False once a rebuild replaced it)."""
        return _directory_identity(self.path) == self._identity

    def __repr__(self) -> str:
        return f"Cache({str(self.path)!r})"

    @property
    def labels(self) -> list[str]:
        """The model's labels, index = label id."""
        return list(self.manifest["labels"])

    @property
    def command(self) -> str:
        """The command line that rebuilds this cache."""
        return str(self.manifest["command"])

    def rebuild_command(self, **changes: object) -> str:
        """The command that rebuilds this cache with ``changes`` to its options (``projection="umap"``).

        Generated from the manifest's structured options, never by editing the command string.
        """
        from explainer.pipeline.options import command_line, manifest_options  # the pipeline imports the cache

        options = manifest_options(self.manifest)
        if not changes:
            return self.command
        if not options:  # a manifest older than `options` whose command no longer parses: add the flags
            return " ".join([self.command, *(f"--{name.replace('_', '-')} {value}" for name, value in changes.items())])
        return command_line({**options, **changes}, shown=changes)

    @property
    def metrics(self) -> dict[str, Any]:
        """Contents of metrics.json."""

        def load() -> dict[str, Any]:
            path = self.path / schema.METRICS
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise ExplainerError(f"cannot read {path} ({error}); rebuild the cache with: {self.command}") from None
            if not isinstance(loaded, dict):
                raise ExplainerError(f"{path} is not a JSON object; rebuild the cache with: {self.command}")
            return loaded

        return self._memoised("metrics", load)

    @property
    def analyses(self) -> dict[str, Any]:
        """The build steps' summaries (``manifest["analyses"]``; empty for a cache built before them)."""
        return dict(self.manifest.get("analyses") or {})

    def table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """A table as a pandas DataFrame.

        Parameters
        ----------
        name : str
            ``"examples"``, ``"words"``, ``"subwords"``, ``"spans"`` or ``"span_errors"``
            (the ``.parquet`` suffix is optional).
        columns : list of str, optional
            Read only these columns (not memoised unless the whole table already is).

        Returns
        -------
        pandas.DataFrame
        """
        file_name = self._file_of(name)
        if columns is None:
            return self._memoised(file_name, lambda: self._read_table(file_name, None))
        with self._lock:
            whole = self._memo.get(file_name)
        if whole is not None:
            return whole[list(columns)]
        self._check_current()
        return self._read_table(file_name, list(columns))

    def example_rows(
        self, name: str, example_id: int | list[int] | tuple[int, ...], columns: list[str] | None = None
    ) -> pd.DataFrame:
        """The rows of example ``example_id`` (an id, or a list of ids) in table ``name``, read by row group.

        Tables are sorted by ``example_id`` and written in row groups whose statistics give each
        group's first and last id: only the groups holding this example are decoded, and the
        decoded groups are kept (within ``ROW_GROUP_BUDGET``) for the next request. If the whole
        table is already in memory, it is sliced instead.

        Returns
        -------
        pandas.DataFrame
            The same columns and dtypes as :meth:`table`, rows in id order (one conversion for all
            the ids: a page of examples asks once per table); empty when no example has rows.
        """
        file_name = self._file_of(name)
        wanted = sorted({int(i) for i in example_id}) if isinstance(example_id, list | tuple) else [int(example_id)]
        with self._lock:
            whole = self._memo.get(file_name)
        if whole is not None:
            ids = whole["example_id"].to_numpy()
            positions = [range(ids.searchsorted(i, "left"), ids.searchsorted(i, "right")) for i in wanted]
            rows = (
                whole.iloc[[row for span in positions for row in span]]
                if len(wanted) > 1
                else whole.iloc[positions[0].start : positions[0].stop]
            )
            return rows if columns is None else rows[list(columns)]
        import pyarrow as pa

        pieces = []
        for wanted_id in wanted:
            for index in self._groups_holding(file_name, wanted_id):
                group = self._row_group(file_name, index, columns)
                ids = group.column("example_id").to_numpy()
                start, end = ids.searchsorted(wanted_id, "left"), ids.searchsorted(wanted_id, "right")
                if end > start:
                    pieces.append(group.slice(start, end - start))
        if not pieces:
            pieces = [self._row_group(file_name, 0, columns).slice(0, 0)]
        table = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
        if columns is not None:
            table = table.select(list(columns))
        return self._to_pandas(file_name, table)

    def _groups_holding(self, file_name: str, example_id: int) -> list[int]:
        """Row groups whose example_id range contains ``example_id`` (from the Parquet statistics)."""
        bounds = self._memoised(f"{file_name}#bounds", lambda: self._row_group_bounds(file_name))
        return [index for index, (low, high) in enumerate(bounds) if low <= example_id <= high]

    def _row_group_bounds(self, file_name: str) -> list[tuple[float, float]]:
        metadata = self._parquet_file(file_name).metadata
        column = metadata.schema.to_arrow_schema().get_field_index("example_id")
        bounds = []
        for index in range(metadata.num_row_groups):
            stats = metadata.row_group(index).column(column).statistics
            # Without statistics a group may hold any id: it is read and searched.
            bounds.append(
                (stats.min, stats.max) if stats is not None and stats.has_min_max else (float("-inf"), float("inf"))
            )
        return bounds

    def _row_group(self, file_name: str, index: int, columns: list[str] | None = None) -> pa.Table:
        """Row group ``index`` (only ``columns`` and example_id, if given: fewer columns to decode)."""
        columns = None if columns is None else sorted({"example_id", *columns})
        key = (file_name, index, None if columns is None else tuple(columns))
        with self._lock:
            group = self._row_groups.get(key)
            if group is not None:
                self._row_groups.move_to_end(key)
                return group
        self._check_current()
        import pyarrow as pa

        try:
            group = self._parquet_file(file_name).read_row_group(index, columns=columns)
        except (OSError, pa.ArrowInvalid) as error:
            raise ExplainerError(
                f"cannot read {self.path / file_name} ({error}); rebuild it with: {self.command}"
            ) from None
        with self._lock:
            self._row_groups[key] = group
            while len(self._row_groups) > 1 and sum(t.nbytes for t in self._row_groups.values()) > ROW_GROUP_BUDGET:
                self._row_groups.popitem(last=False)
        return group

    def _parquet_file(self, file_name: str) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path / file_name, memory_map=True)
        except (OSError, pa.ArrowInvalid) as error:
            raise ExplainerError(
                f"cannot read {self.path / file_name} ({error}); rebuild it with: {self.command}"
            ) from None

    def mapped_table(self, file_name: str, *, lists_as_arrow: bool = False) -> pd.DataFrame | None:
        """An Arrow IPC file of the cache (``schema.VIEW_TABLES``) as a memoised DataFrame over a memory
        map, or None when the cache has no such file.

        The frame's columns point into the mapped file (no copy): its pages live in the OS page
        cache, shared by every worker process, and count as file-backed, not heap, memory. With
        ``lists_as_arrow``, list columns stay Arrow too (``pd.ArrowDtype``: a row reads as a Python
        list) rather than one NumPy array per row in the heap (the first read decides, per file).
        """

        def load() -> pd.DataFrame | None:
            path = self.path / file_name
            if not path.is_file():
                return None
            import pandas as pd
            import pyarrow as pa

            try:
                table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
            except (OSError, pa.ArrowInvalid) as error:
                raise ExplainerError(f"cannot read {path} ({error}); rebuild it with: {self.command}") from None

            def arrow_lists(kind: pa.DataType) -> pd.ArrowDtype | None:
                return pd.ArrowDtype(kind) if pa.types.is_list(kind) or pa.types.is_large_list(kind) else None

            return table.to_pandas(split_blocks=True, types_mapper=arrow_lists if lists_as_arrow else None)

        return self._memoised(file_name, load)

    def mapped_columns(self, file_name: str, columns: Sequence[str] | None = None) -> pa.Table:
        """``columns`` (None: all) of an Arrow IPC file of the cache over a fresh memory map, not memoised:
        the map lives as long as the returned table, and only the pages of the columns read are touched."""
        import pyarrow as pa

        self._check_current()
        path = self.path / file_name
        try:
            table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
            return table if columns is None else table.select(list(columns))
        except (OSError, pa.ArrowInvalid, KeyError) as error:
            raise ExplainerError(f"cannot read {path} ({error}); rebuild it with: {self.command}") from None

    def _mapped_or_fail(self, file_name: str) -> pd.DataFrame:
        frame = self.mapped_table(file_name)
        if frame is None:
            raise ExplainerError(f"{self.path / file_name} is missing; rebuild the cache with: {self.command}")
        return frame

    def compact_table(
        self, file_name: str, *, mapped_text: tuple[str, ...] = (), skip: tuple[str, ...] = ()
    ) -> pd.DataFrame | None:
        """An Arrow IPC file of the cache (``schema.VIEW_TABLES``) as a memoised, compact DataFrame, or None
        when the cache has no such file.

        String columns become categoricals whose categories are sorted (so sorting by code sorts by the
        strings): a label or a word repeated over a million rows costs a code each, not a string. Integer
        columns whose values fit become int32. The ``mapped_text`` columns (long, mostly distinct strings
        such as a context) stay Arrow strings over a memory map, copied nowhere: only the pages a request
        reads count in the worker's memory. The other columns are read without a map, so the file's pages
        they come from are not held by the worker either. The ``skip`` columns are not read.
        """

        def load() -> pd.DataFrame | None:
            path = self.path / file_name
            if not path.is_file():
                return None
            import pyarrow as pa

            try:
                # Every column over the map (no copy; IPC's included_fields would copy): the names, and the text.
                whole = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
                every = whole.schema.names
                names = [name for name in every if name not in skip]
                kept = [index for index, name in enumerate(every) if name in names and name not in mapped_text]
                read = pa.ipc.IpcReadOptions(included_fields=kept)
                with pa.OSFile(str(path)) as source:
                    table = pa.ipc.open_file(source, options=read).read_all()
                mapped = whole.select([name for name in mapped_text if name in names])
            except (OSError, pa.ArrowInvalid) as error:
                raise ExplainerError(f"cannot read {path} ({error}); rebuild it with: {self.command}") from None
            return compact_frame(table, text=mapped, order=names)

        return self._memoised(f"{file_name}#compact{sorted(skip)}", load)

    def optional_table(self, file_name: str) -> pd.DataFrame | None:
        """An optional Parquet file of the cache (e.g. ``schema.LABEL_QUALITY``) as a memoised DataFrame,
        or None when this cache has none (an older cache, or its build option was off)."""

        def load() -> pd.DataFrame | None:
            return self._read_table(file_name, None) if (self.path / file_name).is_file() else None

        return self._memoised(file_name, load)

    def precomputed(self, file_name: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """The view the build wrote to ``file_name`` (``schema.VIEW_TABLES``), else ``compute()`` (older caches).

        The file holds exactly what ``compute()`` returns, so the pages behave the same either way; it
        spares each worker the whole words table the computation needs.
        """
        frame = self.mapped_table(file_name)
        return compute() if frame is None else frame

    def arrow_table(self, name: str, columns: list[str]) -> pa.Table:
        """``columns`` of table ``name`` as a pyarrow Table (not memoised, not converted to pandas): for
        work done in Arrow, such as joining list columns without a Python list per row."""
        file_name = self._file_of(name)
        self._check_current()
        return self._read_arrow(file_name, columns)

    @property
    def examples(self) -> pd.DataFrame:
        return self.table("examples")

    @property
    def words(self) -> pd.DataFrame:
        return self.table("words")

    @property
    def subwords(self) -> pd.DataFrame:
        return self.table("subwords")

    @property
    def spans(self) -> pd.DataFrame:
        return self.table("spans")

    @property
    def span_errors(self) -> pd.DataFrame:
        return self.table("span_errors")

    @property
    def probs(self) -> npt.NDArray[np.float32]:
        """float32 ``[n_subwords, n_labels]`` softmax probabilities (memory-mapped, read-only)."""
        return self._memoised(schema.PROBS, lambda: self._load_array(schema.PROBS))

    @property
    def hidden(self) -> npt.NDArray[np.float16]:
        """float16 ``[n_subwords, hidden_size]`` last hidden state (memory-mapped, read-only)."""
        return self._memoised(schema.HIDDEN, lambda: self._load_array(schema.HIDDEN))

    # --- optional artefacts (build steps of explainer/pipeline/steps.py): a value or Missing(reason) ---

    def example_embeddings(self) -> npt.NDArray[np.float32] | Missing:
        """float32 ``[n_examples, hidden_size]`` example embeddings (memory-mapped; build step ``projection``)."""

        def load() -> npt.NDArray[np.float32] | Missing:
            if not (self.path / schema.EXAMPLE_EMBEDDINGS).is_file():
                return Missing(
                    f"This cache has no example embeddings (built before they existed); rebuild it with: {self.command}"
                )
            return self._mapped_array(schema.EXAMPLE_EMBEDDINGS, rows=self._count("examples"), ndim=2)

        return self._memoised(schema.EXAMPLE_EMBEDDINGS, load)

    def projections(self) -> Projections | Missing:
        """The 2-D projections of the words and examples (memory-mapped; ``--projection umap|pca``)."""

        def load() -> Projections | Missing:
            names = (schema.WORD_PROJECTION, schema.EXAMPLE_PROJECTION)
            if not all((self.path / name).is_file() for name in names):
                return Missing(
                    "This cache has no projections (it was built with --projection none, or before projections "
                    f"existed); rebuild it with --projection umap: {self.command}"
                )
            words = self._mapped_array(schema.WORD_PROJECTION, rows=self._count("words"), ndim=2, columns=2)
            examples = self._mapped_array(schema.EXAMPLE_PROJECTION, rows=self._count("examples"), ndim=2, columns=2)
            try:
                info = json.loads((self.path / schema.PROJECTION_INFO).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                info = {}  # only describes the projection: the points are still shown
            return Projections(words=words, examples=examples, info=info if isinstance(info, dict) else {})

        return self._memoised("projections", load)

    def label_quality(self) -> LabelQualityScores | Missing:
        """The label-quality scores of the words and examples (``--label-quality METHOD``)."""

        def load() -> LabelQualityScores | Missing:
            words = self.optional_table(schema.LABEL_QUALITY)
            examples = self.optional_table(schema.EXAMPLE_LABEL_QUALITY)
            if words is None or examples is None:
                return Missing(LABEL_QUALITY_NOT_BUILT)
            for frame, name, key in (
                (words, schema.LABEL_QUALITY, "words"),
                (examples, schema.EXAMPLE_LABEL_QUALITY, "examples"),
            ):
                if len(frame) != self._count(key):
                    raise ExplainerError(
                        f"{self.path / name} has {len(frame)} rows but the cache has {self._count(key)} {key}; "
                        f"rebuild it with: {self.command}"
                    )
            method = self.analyses.get("label_quality", {}).get("method")
            return LabelQualityScores(words=words, examples=examples, method=method)

        return self._memoised("label_quality", load)

    def activation_sample(self) -> ActivationSample | Missing:
        """The FFN activations of the sampled examples (memory-mapped; ``--activations-sample N``)."""

        def load() -> ActivationSample | Missing:
            if not all((self.path / name).is_file() for name in (schema.ACTIVATIONS, schema.ACTIVATION_POSITIONS)):
                if self.manifest.get("out_of_fold"):
                    return Missing(
                        "This cross-validation cache has no feed-forward activations: they belong to one model, "
                        "and its examples were run by one model per fold. Build a cache of one model with "
                        f"explainer build {ACTIVATIONS_OPTION} to see them."
                    )
                return Missing(
                    f"This cache has no feed-forward activations: rebuild it with {ACTIVATIONS_OPTION} (examples to "
                    f"record, e.g. 200), i.e. {self.rebuild_command(activations_sample=200)}"
                )
            activations = self._mapped_array(schema.ACTIVATIONS, ndim=3)
            positions = self._read_table(schema.ACTIVATION_POSITIONS, None)
            if activations.shape[1] != len(positions):
                raise ExplainerError(
                    f"{self.path / schema.ACTIVATIONS} has shape {activations.shape} but "
                    f"{schema.ACTIVATION_POSITIONS} has {len(positions)} rows; rebuild the cache with: {self.command}"
                )
            summary = dict(self.analyses.get("activations") or {})
            return ActivationSample(activations=activations, positions=positions, summary=summary)

        return self._memoised("activation_sample", load)

    def activation_factorisation(self) -> Factorisation | Missing:
        """The Activations tab's default factorisation, made by the build (step ``activation_nmf``)."""

        def load() -> Factorisation | Missing:
            summary = self.analyses.get("activation_nmf")
            path = self.path / schema.ACTIVATION_NMF
            if not summary or not path.is_file():
                return Missing(
                    f"This cache has no precomputed factorisation (built before they were); rebuild it with: "
                    f"{self.command}"
                )
            try:
                with np.load(path, allow_pickle=False) as stored:
                    arrays = {name: np.asarray(stored[name]) for name in ("weights", "components", "neurons")}
            except (OSError, ValueError, KeyError) as error:
                raise ExplainerError(f"cannot read {path} ({error}); rebuild it with: {self.command}") from None
            return Factorisation(
                layers=tuple(int(layer) for layer in summary["layers"]),
                n_components=int(summary["n_components"]),
                seed=int(summary["seed"]),
                weights=arrays["weights"].astype(np.float32, copy=False),
                components=arrays["components"].astype(np.float32, copy=False),
                neurons=arrays["neurons"].astype(np.int64, copy=False),
                fitted_on=int(summary["fitted_on"]),
                seconds=float(summary["seconds"]),
            )

        return self._memoised("activation_factorisation", load)

    def duplicate_findings(self) -> DuplicateFindings | Missing:
        """Find duplicates' exact groups and near pairs, found by the build (step ``duplicates``)."""

        def load() -> DuplicateFindings | Missing:
            groups = self.mapped_table(schema.DUPLICATE_GROUPS)
            if groups is None:
                return Missing(
                    f"This cache has no duplicate index (built before it was); rebuild it with: {self.command}"
                )
            groups = groups.copy()
            # Arrow gives each list as an array; the view reads lists of ints, as the analysis makes them.
            groups["example_ids"] = [[int(i) for i in ids] for ids in groups["example_ids"]]
            return DuplicateFindings(groups=groups, near=self.mapped_table(schema.NEAR_DUPLICATES))

        return self._memoised("duplicate_findings", load)

    def findings(self) -> LabelErrorFindings | Missing:
        """Span-level suspected label errors with their fixes, best first (build step ``findings``)."""

        def load() -> LabelErrorFindings | Missing:
            table = self.mapped_table(schema.FINDINGS, lists_as_arrow=True)
            if table is None:
                # a crossval cache has no --findings of its own (its build runs the step by default)
                built = self.manifest.get("options", {}).get("subcommand", "build") == "build"
                command = self.rebuild_command(findings="on") if built else self.command
                return Missing(
                    f"This cache has no label-error findings (built before them, or with --findings none); "
                    f"rebuild it with: {command}"
                )
            # The list columns stay Arrow, over the map (a row reads as a list of str, as the review
            # applies them): converted up front, they were ~100 MB of Python lists per worker at 250k words.
            return LabelErrorFindings(table=table, info=dict(self.analyses.get("findings", {})))

        return self._memoised("findings", load)

    def training_dynamics(self) -> TrainingDynamics | Missing:
        """The data map of a cache of the model's own training data (build step ``training_dynamics``)."""

        def load() -> TrainingDynamics | Missing:
            names = (schema.WORD_DYNAMICS, schema.EXAMPLE_DYNAMICS, schema.SPAN_DYNAMICS)
            info = dict(self.analyses.get("training_dynamics") or {})
            if not all((self.path / name).is_file() for name in names):
                why = f" ({info['reason']})" if info.get("reason") else ""
                return Missing(
                    f"This cache has no training dynamics{why}. Train a model on this dataset recording them, "
                    f"then build the dataset with it: {self._dynamics_commands()}"
                )
            words, examples, spans = (self.mapped_table(name) for name in names)
            assert words is not None and examples is not None and spans is not None  # checked above
            if len(words) != self._count("words"):
                raise ExplainerError(
                    f"{self.path / schema.WORD_DYNAMICS} has {len(words)} rows but the cache has "
                    f"{self._count('words')} words; rebuild it with: {self.command}"
                )
            return TrainingDynamics(words=words, examples=examples, spans=spans, info=info)

        return self._memoised("training_dynamics", load)

    def _dynamics_commands(self) -> str:
        """The two commands that give this cache's dataset a data map (BASE and MODEL to fill in)."""
        options = self.manifest.get("options") or {}
        import shlex

        dataset = shlex.quote(str(options.get("dataset") or (self.manifest.get("dataset") or {}).get("spec") or "DATA"))
        built = options.get("subcommand", "build") == "build"
        build = (
            self.rebuild_command(model="MODEL")
            if built and options
            else f"explainer build --model MODEL --dataset {dataset} --out OUT"
        )
        return f"explainer train --base BASE --dataset {dataset} --out MODEL --record-dynamics && {build}"

    def folds(self) -> npt.NDArray[np.int16] | Missing:
        """int16 ``[n_examples]`` the fold (= the model) that scored each example of an out-of-fold cache."""

        def load() -> npt.NDArray[np.int16] | Missing:
            if not (self.path / schema.FOLDS).is_file():
                return Missing("This cache is not out-of-fold (made by explainer build, not explainer crossval)")
            return self._mapped_array(schema.FOLDS, rows=self._count("examples"), ndim=1)

        return self._memoised(schema.FOLDS, load)

    def data_checks(self) -> pd.DataFrame | Missing:
        """The data checks' findings (step ``data_checks``): check, count, message, example_ids, word_indexes."""

        def load() -> pd.DataFrame | Missing:
            findings = self.mapped_table(schema.DATA_CHECKS)
            if findings is None:
                return Missing(
                    f"This cache has no data checks (built before they were); rebuild it with: {self.command}"
                )
            findings = findings.copy()
            # Arrow gives each list as an array; the view reads lists of ints.
            for name in ("example_ids", "word_indexes"):
                findings[name] = [[int(i) for i in values] for values in findings[name]]
            return findings

        return self._memoised("data_checks", load)

    def slices(self) -> SliceResults | Missing:
        """Span and example attributes, bucket scores and weak slices (build step ``slices``)."""

        def load() -> SliceResults | Missing:
            names = (schema.SLICE_SPANS, schema.SLICE_EXAMPLES, schema.SLICE_BUCKETS, schema.WEAK_SLICES)
            summary = self.analyses.get("slices")
            if not summary or not all((self.path / name).is_file() for name in names):
                return Missing(
                    "This cache has no slices (built before they existed); rebuild it, adding "
                    f"--train-dataset SPEC to compare with a training set: {self.command}"
                )
            buckets, weak = self.mapped_table(schema.SLICE_BUCKETS), self.mapped_table(schema.WEAK_SLICES)
            assert buckets is not None and weak is not None
            # The span and example tables are read when asked for (SliceResults says why). The readers hold
            # the cache weakly: the memoised results must not keep a dropped cache alive in a cycle.
            opened, path = weakref.ref(self), self.path

            def this() -> Cache:
                cache = opened()
                if cache is None:
                    raise ExplainerError(f"cache {path} was closed; open it again")
                return cache

            return SliceResults(
                buckets=buckets,
                weak=weak,
                summary=dict(summary),
                read_spans=lambda columns: this().mapped_columns(schema.SLICE_SPANS, columns),
                read_examples=lambda: this()._mapped_or_fail(schema.SLICE_EXAMPLES),
                read_all_spans=lambda: this()._mapped_or_fail(schema.SLICE_SPANS),
            )

        return self._memoised("slices", load)

    def describe(self) -> str:
        """``"model · dataset · split"`` in short names, for pickers and titles."""
        model = _short_name(self.manifest["model"].get("id") or "model")
        dataset = _short_name(self.manifest["dataset"].get("spec") or "dataset")
        split = self.manifest.get("split")
        return " · ".join(part for part in (model, dataset, split) if part)

    def _memoised(self, key: str, load: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._memo:
                self._check_current()
                self._memo[key] = load()
            value: T = self._memo[key]
            return value

    def _count(self, key: str) -> int:
        return int(self.manifest.get("counts", {}).get(key, -1))

    def _file_of(self, name: str) -> str:
        file_name = _TABLE_NAMES.get(name.removesuffix(".parquet"))
        if file_name is None:
            raise ValueError(f"unknown table {name!r}; expected one of {sorted(_TABLE_NAMES)}")
        return file_name

    def _check_current(self) -> None:
        """Refuse to mix files of a rebuilt cache with the manifest and data already loaded."""
        if not self.is_current():
            raise ExplainerError(f"cache {self.path} was rebuilt or removed after it was opened; open it again")

    def _read_table(self, file_name: str, columns: list[str] | None) -> pd.DataFrame:
        return self._to_pandas(file_name, self._read_arrow(file_name, columns))

    def _read_arrow(self, file_name: str, columns: list[str] | None) -> pa.Table:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.read_table(self.path / file_name, columns=columns)
        except (OSError, pa.ArrowInvalid, KeyError) as error:
            raise ExplainerError(
                f"cannot read {self.path / file_name} ({error}); rebuild it with: {self.command}"
            ) from None

    @staticmethod
    def _to_pandas(file_name: str, table: pa.Table) -> pd.DataFrame:
        import pandas as pd
        import pyarrow as pa

        # Only span_errors has integer columns with nulls; keep them integers (pandas Int32), not floats.
        mapper = {pa.int32(): pd.Int32Dtype()}.get if file_name == schema.SPAN_ERRORS else None
        return table.to_pandas(types_mapper=mapper)

    def _load_array(self, name: str) -> npt.NDArray[Any]:
        return self._mapped_array(name, rows=self._count("subwords"), ndim=2)

    def _mapped_array(
        self, name: str, *, ndim: int, rows: int | None = None, columns: int | None = None
    ) -> npt.NDArray[Any]:
        """``name`` memory-mapped, checked to have ``ndim`` dimensions, ``rows`` rows and ``columns`` columns."""
        path = self.path / name
        try:
            array: npt.NDArray[Any] = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ExplainerError(f"cannot read {path} ({error}); rebuild it with: {self.command}") from None
        expected = [ndim == array.ndim, rows is None or array.shape[0] == rows]
        expected.append(columns is None or (array.ndim > 1 and array.shape[1] == columns))
        if not all(expected):
            raise ExplainerError(
                f"{path} has shape {array.shape} but the cache expects {ndim} dimensions"
                + ("" if rows is None else f", {rows} rows")
                + ("" if columns is None else f", {columns} columns")
                + f"; rebuild it with: {self.command}"
            )
        return array


def compact_frame(table: pa.Table, *, text: pa.Table | None = None, order: list[str] | None = None) -> pd.DataFrame:
    """``table`` as a compact DataFrame (see :meth:`Cache.compact_table`): strings as categoricals with sorted
    categories, integers that fit as int32; the columns of ``text`` kept as Arrow strings, not copied. Columns
    in ``order`` (default: ``table``'s, then ``text``'s)."""
    import pandas as pd

    columns = {name: _compact_column(table[name]) for name in table.column_names}
    texts: list[str] = []
    if text is not None:
        texts = text.column_names
        for name in texts:
            columns[name] = pd.Series(pd.arrays.ArrowExtensionArray(text[name]), copy=False)
    order = order or [*table.column_names, *texts]
    return pd.DataFrame({name: columns[name] for name in order if name in columns})


def compact_pandas(frame: pd.DataFrame, *, text: tuple[str, ...] = ()) -> pd.DataFrame:
    """:func:`compact_frame` of a pandas frame (a view computed for a cache built before its file was written)."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    kept = [name for name in table.column_names if name not in text]
    return compact_frame(
        table.select(kept), text=table.select([name for name in text if name in frame]), order=list(frame.columns)
    )


def _compact_column(values: pa.ChunkedArray) -> Any:
    """One column of :meth:`Cache.compact_table`: strings as a categorical with sorted categories (Arrow's
    byte order, which is pandas' order for strings), integers that fit as int32, the rest as pandas reads it."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        distinct = pc.unique(values.drop_null())
        distinct = distinct.take(pc.array_sort_indices(distinct))
        codes = pc.fill_null(pc.index_in(values, value_set=distinct), -1).to_numpy().astype(np.int32)
        return pd.Categorical.from_codes(codes, categories=pd.Index(distinct.to_pylist(), dtype="str"))
    if pa.types.is_integer(kind):
        low, high = (bound.as_py() for bound in pc.min_max(values).values())
        fits = low is None or (np.iinfo(np.int32).min <= low and high <= np.iinfo(np.int32).max)
        values = values.cast(pa.int32()) if fits else values
        if values.null_count:  # integers with gaps stay integers (pandas' nullable Int32/Int64), as pandas reads them
            return values.to_pandas(types_mapper={pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype()}.get)
        return values.to_numpy()
    return values.to_pandas()


def _directory_identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _short_name(value: str) -> str:
    """The last part of a path; a hub id (``owner/name``) is kept whole."""
    path = Path(value)
    return path.name if path.is_absolute() or value.startswith(".") or len(path.parts) > 2 else value


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of cache directory ``path``, parsed but not checked.

    Raises
    ------
    ExplainerError
        If the directory or its manifest is missing or unreadable.
    """
    path = Path(path)
    if not path.is_dir():
        raise ExplainerError(
            f"cache {path} does not exist or is not a directory; build one with "
            f"`explainer build --model M --dataset D --out {path}`"
        )
    manifest_path = path / schema.MANIFEST
    try:
        found = manifest_path.is_file()
    except OSError as error:  # Path.is_file raises on a directory the app's user cannot enter
        raise ExplainerError(
            f"cannot read {manifest_path} ({error.strerror or error}): make {path} readable by the app's user"
        ) from None
    if not found:
        raise ExplainerError(
            f"{path} is not a complete explainer cache (no {schema.MANIFEST}); build it with "
            f"`explainer build --model M --dataset D --out {path}`"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExplainerError(
            f"{manifest_path} is unreadable ({error}); rebuild the cache with `explainer build`"
        ) from None
    if not isinstance(manifest, dict):
        raise ExplainerError(f"{manifest_path} is not a JSON object; rebuild the cache with `explainer build`")
    return manifest


def open_cache(path: str | Path) -> Cache:
    """Open and check a cache directory.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Cache

    Raises
    ------
    ExplainerError
        If the cache is missing, of another schema version, or incomplete; the message carries the
        command that rebuilds it.
    """
    path = Path(path).expanduser().absolute()
    manifest = read_manifest(path)
    command = manifest.get("command") or f"explainer build --model M --dataset D --out {path}"
    version = manifest.get("schema_version")
    if version != schema.SCHEMA_VERSION:
        raise ExplainerError(
            f"cache {path} has schema version {version} but this explainer "
            f"({_tool_version()}) reads version {schema.SCHEMA_VERSION}; rebuild it with: {command}"
        )
    missing = [key for key in schema.MANIFEST_KEYS if key not in manifest]
    missing += [name for name in (*schema.TABLES, *schema.ARRAYS, schema.METRICS) if not (path / name).is_file()]
    if missing:
        raise ExplainerError(f"cache {path} is incomplete (missing {', '.join(missing)}); rebuild it with: {command}")
    check_manifest_types(manifest, path / schema.MANIFEST, command)
    return Cache(path, manifest)


# The manifest fields the app reads before any table (picker, headline, labels): each must have its type,
# or one damaged manifest would fail every page that lists the caches. A dataset without splits has split null.
MANIFEST_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "model": (dict,),
    "dataset": (dict,),
    "split": (str, type(None)),
    "counts": (dict,),
    "headline": (dict,),
    "labels": (list,),
}
# What the values inside a field must be: (check, what the message says a valid field is).
_FIELD_CONTENTS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "model": (lambda model: isinstance(model.get("id") or "", str), "an object whose id is a string"),
    "dataset": (lambda dataset: isinstance(dataset.get("spec") or "", str), "an object whose spec is a string"),
    "counts": (lambda counts: all(_is_number(value) for value in counts.values()), "an object of numbers"),
    "headline": (lambda numbers: all(_is_number(value) for value in numbers.values()), "an object of numbers"),
    "labels": (lambda labels: all(isinstance(label, str) for label in labels), "a list of strings"),
}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def check_manifest_types(manifest: dict[str, Any], manifest_path: Path, command: str) -> None:
    """Raise ExplainerError naming ``manifest_path`` and the field when a field of MANIFEST_FIELD_TYPES
    (when present) has another JSON type, or holds values of another type."""
    for field, types in MANIFEST_FIELD_TYPES.items():
        if field not in manifest:
            continue
        value = manifest[field]
        if not isinstance(value, types) or isinstance(value, bool):
            expected = " or ".join(_json_type(kind()) for kind in types)
            raise ExplainerError(
                f"{manifest_path}: field {field!r} is {_json_type(value)}, expected {expected}; "
                f"rebuild the cache with: {command}"
            )
        check, valid = _FIELD_CONTENTS.get(field, (lambda _: True, ""))
        if not check(value):
            raise ExplainerError(f"{manifest_path}: field {field!r} must be {valid}; rebuild the cache with: {command}")


def _tool_version() -> str:
    from explainer import __version__

    return __version__


def list_caches(root: str | Path) -> list[Path]:
    """Cache directories at ``root``: ``root`` itself if it is one, else every cache directly under it.

    Hidden directories (a build's temporary ones) are skipped. Sorted by path.

    Raises
    ------
    ExplainerError
        If ``root`` does not exist.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise ExplainerError(f"{root} does not exist; pass a cache directory or a directory of caches")
    if (root / schema.MANIFEST).is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(
        child for child in root.iterdir() if child.is_dir() and not child.name.startswith(".") and _may_be_cache(child)
    )


def _may_be_cache(directory: Path) -> bool:
    """Whether ``directory`` holds a manifest; one the app's user cannot enter is listed too, so that
    the picker can say it is unreadable instead of the listing failing for every cache."""
    try:
        return (directory / schema.MANIFEST).is_file()
    except PermissionError:
        return True
