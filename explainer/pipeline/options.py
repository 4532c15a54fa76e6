"""The options of ``explainer build``, declared once, and what is derived from a declaration.

An option is a dataclass field whose metadata (:func:`option`) carries its flag, help, group and
choices; its type and default are the field's. From a declaration come

- the argparse arguments (:func:`add_arguments`) and the options read back from them (:func:`from_arguments`);
- the manifest's structured ``options`` (:func:`recorded`: JSON, local paths made absolute so the cache
  can be rebuilt and its dataset reloaded from any directory) and its ``command`` (:func:`command_line`,
  generated from that object);
- the options of a manifest written before ``options`` was recorded (:func:`manifest_options`: the one
  place that still reads an old ``command`` string, with the parser derived from the declaration).

``explainer crossval`` declares its own options (explainer/train/options.py): those it shares with the
build are :func:`shared` copies of the fields below (same flag, type and choices; its own help and
default), and the training settings it shares with ``explainer train`` are a :func:`nested` declaration.
"""

from __future__ import annotations

import argparse
import shlex
import typing
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn, TypeVar

from explainer.errors import ExplainerError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

OPTION = "option"  # field metadata keys
NESTED = "nested"
SUBCOMMAND = "subcommand"  # key of the recorded options naming the declaration they belong to

Declared = TypeVar("Declared", bound="DataclassInstance")  # a declaration: a dataclass whose fields are options
PathKind = Literal["file", "file_or_name"]  # always a local path / a local path when one exists, else a Hub name


@dataclass(frozen=True)
class Option:
    """How one field appears on the command line and in the manifest."""

    flag: str
    help: str
    group: str | None = None  # argument group title; None: the parser's main options
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    path: PathKind | None = None
    recorded: bool = True  # False: neither in the manifest nor in the rebuild command (--force)
    shares: str | None = None  # the BuildOptions field this one is (set by :func:`shared`)


@dataclass(frozen=True)
class Nested:
    """A field holding another declaration (crossval's training settings), with its flags renamed."""

    group: str
    prefix: str  # of the argparse dests, so they do not collide with the outer declaration's
    flags: Mapping[str, str] = field(default_factory=dict)
    help: Mapping[str, str] = field(default_factory=dict)
    exclude: frozenset[str] = frozenset()  # fields of the inner declaration with no flag here


def option(
    default: Any = MISSING,
    *,
    flag: str,
    help: str,
    group: str | None = None,
    metavar: str | None = None,
    choices: tuple[str, ...] | None = None,
    path: PathKind | None = None,
    recorded: bool = True,
) -> Any:
    """A declared option (a dataclass field); without ``default`` it is required."""
    return field(
        default=default,
        metadata={OPTION: Option(flag, help, group, metavar, choices, path, recorded)},
    )


def nested(
    declaration: type,
    *,
    group: str,
    prefix: str,
    flags: Mapping[str, str] | None = None,
    help: Mapping[str, str] | None = None,
    exclude: Iterable[str] = (),
) -> Any:
    """A field holding a ``declaration`` whose options go in argument group ``group``."""
    return field(
        default_factory=declaration,
        metadata={NESTED: Nested(group, prefix, dict(flags or {}), dict(help or {}), frozenset(exclude))},
    )


@dataclass
class BuildOptions:
    """Everything ``explainer build`` is told: one field per command-line option.

    The field order is the order of ``explainer build --help`` and of the rebuild command.
    """

    subcommand: ClassVar[str] = "build"

    model: str = option(
        flag="--model",
        help="Hugging Face Hub id or local model directory; repeat --model to build one cache per model, "
        "each in --out/<the model directory's name> (the dataset loaded and tokenised once)",
        path="file_or_name",
    )
    dataset: str = option(
        flag="--dataset",
        help="CoNLL or JSONL file, Prodigy JSONL, spaCy .spacy DocBin, save_to_disk directory, or Hub dataset name",
        path="file_or_name",
    )
    out: str = option(flag="--out", help="cache directory to write (replaced if it is a cache)", path="file")
    split: str | None = option(
        None, flag="--split", help="dataset split (Hub/disk datasets; default test, else validation)"
    )
    tokens_column: str | None = option(
        None, flag="--tokens-column", help="field/column holding the words (default: tokens or words)"
    )
    tags_column: str | None = option(
        None, flag="--tags-column", help="field/column holding the tags (default: ner_tags, tags or labels)"
    )
    strip_prefix: str | None = option(
        None,
        flag="--strip-prefix",
        metavar="PREFIX",
        help="remove PREFIX from every word that starts with it, on load (e.g. en: before each WikiANN word)",
    )
    label_map: str | None = option(
        None,
        flag="--label-map",
        metavar="FILE",
        help="JSON object mapping dataset tags or entity types to the model's labels",
        path="file",
    )
    tag_scheme: str = option(
        "auto",
        flag="--tag-scheme",
        choices=("auto", "iob1", "iob2", "bioes", "bilou"),
        help="the dataset's tag scheme, converted to IOB2 on load (default: auto, detected from the tags; "
        "BIOES is also called IOBES)",
    )
    write_label_map_template: str | None = option(
        None,
        flag="--write-label-map-template",
        metavar="FILE",
        help="write a JSON label map to fill in (the dataset's tags and types, the model's labels) to FILE "
        "and exit without building",
        path="file",
        recorded=False,  # a request for a file, not a setting of the cache
    )
    revision: str | None = option(None, flag="--revision", help="model revision on the Hub (branch, tag or commit)")
    trust_remote_code: bool = option(
        False,
        flag="--trust-remote-code",
        help="allow the model repository's own Python code to run (off by default)",
    )
    allow_pickle_weights: bool = option(
        False,
        flag="--allow-pickle-weights",
        help="accept a model whose weights are only pickled (.bin); unpickling can run code",
    )
    max_length: int | None = option(
        None,
        flag="--max-length",
        help="most subwords per forward pass, special tokens included (default: the model's maximum)",
    )
    stride: int | None = option(
        None,
        flag="--stride",
        help="least overlap in subwords between windows of a long example (default: half a window)",
    )
    batch_size: int = option(32, flag="--batch-size", help="sequences per forward pass (default: 32)")
    device: str = option(
        "auto",
        flag="--device",
        choices=("auto", "cpu", "cuda"),
        help="where to run the model (default: auto, cuda when available)",
    )
    force: bool = option(
        False,
        flag="--force",
        help="replace --out even if it is a non-empty directory that is not a cache",
        recorded=False,  # a rebuild replaces the cache anyway; --force would only widen what it may replace
    )
    # Dataset-level analyses run after the forward pass (explainer/pipeline/steps.py); each has its options here.
    projection: str = option(
        "umap",
        flag="--projection",
        group="dataset-level analyses (run after the forward pass)",
        choices=("umap", "pca", "none"),
        help="2-D projection of word and example embeddings (default: umap, after PCA to 50)",
    )
    projection_sample: int = option(
        10_000,
        flag="--projection-sample",
        group="dataset-level analyses (run after the forward pass)",
        metavar="N",
        help="fit UMAP on a seeded sample of at most N points and place the rest by their nearest "
        "fitted points (default: 10000; the README says what it costs)",
    )
    label_quality: str = option(
        "self_confidence",
        flag="--label-quality",
        group="dataset-level analyses (run after the forward pass)",
        metavar="METHOD",
        help="cleanlab label-quality method: self_confidence, normalized_margin, "
        "confidence_weighted_entropy, or none (default: self_confidence)",
    )
    findings: str = option(
        "on",
        flag="--findings",
        group="dataset-level analyses (run after the forward pass)",
        choices=("on", "none"),
        help="span-level label-error findings with proposed fixes (model, dataset consistency, hidden-state "
        "neighbours), the Review queue's default order (default: on)",
    )
    training_dynamics: str = option(
        "auto",
        flag="--training-dynamics",
        group="dataset-level analyses (run after the forward pass)",
        choices=("auto", "none"),
        help="the Data map and the margin signal from the training dynamics the model was trained with "
        "(explainer train --record-dynamics), when this dataset is its training data (default: auto)",
    )
    activations_sample: int = option(
        200,
        flag="--activations-sample",
        group="dataset-level analyses (run after the forward pass)",
        metavar="N",
        help="examples whose feed-forward activations are stored for the Activations tab (default: 200; 0 = none)",
    )
    seed: int = option(
        0,
        flag="--seed",
        group="dataset-level analyses (run after the forward pass)",
        help="seed of every sampled analysis (default: 0)",
    )
    train_dataset: str | None = option(
        None,
        flag="--train-dataset",
        group="dataset-level analyses (run after the forward pass)",
        metavar="SPEC",
        path="file_or_name",
        help="reference training set for the Slices view (same forms and column options as --dataset): "
        "whether each entity's text was seen in training, how often, with which type (default: none)",
    )


def shared(name: str, *, default: Any = MISSING, **changes: Any) -> Any:
    """A field that is :class:`BuildOptions`' field ``name`` (same flag, type and choices) with ``changes``
    to its :class:`Option` (help, group, metavar) and, if given, another ``default``."""
    source = {item.name: item for item in fields(BuildOptions)}[name]
    declared = replace(source.metadata[OPTION], shares=name, **changes)
    return field(default=source.default if default is MISSING else default, metadata={OPTION: declared})


def shared_values(options: Any) -> dict[str, Any]:
    """``{BuildOptions field: value}`` of the fields of ``options`` declared with :func:`shared`."""
    return {
        declared.shares: getattr(options, item.name)
        for item, declared in _options(type(options))
        if declared is not None and declared.shares is not None
    }


# --- argparse ----------------------------------------------------------------------------------------------


def add_arguments(
    container: Any,
    declaration: type,
    *,
    prefix: str = "",
    flags: Mapping[str, str] | None = None,
    help: Mapping[str, str] | None = None,
    exclude: Iterable[str] = (),
    only: Iterable[str] | None = None,
    repeated: Iterable[str] = (),
) -> None:
    """Add the options of ``declaration`` to ``container`` (a parser or an argument group).

    Fields whose option names a group go in that group when ``container`` is a parser (created on first
    use, in declaration order). ``prefix`` is put before every dest; ``flags`` and ``help`` replace a
    field's flag or help; fields in ``exclude`` (or not in ``only``) and settings without a flag are left out.
    A field in ``repeated`` takes its flag several times and its dest is the list of values given (build's
    ``--model``): the command makes one declaration instance per value.
    """
    flags, help, exclude, repeated = flags or {}, help or {}, set(exclude), set(repeated)
    groups: dict[str, Any] = {}

    def target(title: str | None) -> Any:
        if title is None or not isinstance(container, argparse.ArgumentParser):
            return container
        if title not in groups:
            groups[title] = container.add_argument_group(title)
        return groups[title]

    hints = typing.get_type_hints(declaration)
    for item in fields(declaration):
        if item.name in exclude or (only is not None and item.name not in only):
            continue
        inner = item.metadata.get(NESTED)
        if inner is not None:
            add_arguments(
                target(inner.group),
                hints[item.name],
                prefix=inner.prefix,
                flags=inner.flags,
                help=inner.help,
                exclude=inner.exclude,
            )
            continue
        declared: Option | None = item.metadata.get(OPTION)
        if declared is None:  # a setting without a flag
            continue
        flag = flags.get(item.name, declared.flag)
        keywords: dict[str, Any] = {"dest": prefix + item.name, "help": help.get(item.name, declared.help)}
        value_type = _value_type(hints[item.name])
        if value_type is bool:
            if _default(item) is not False:
                raise TypeError(f"{declaration.__name__}.{item.name}: a switch must default to False")
            keywords["action"] = "store_true"
        else:
            keywords["type"] = value_type
            if item.name in repeated:
                keywords["action"] = "append"
            if declared.choices is not None:
                keywords["choices"] = declared.choices
            else:  # what argparse shows for a dest named after the flag, whatever the dest is here
                keywords["metavar"] = declared.metavar or flag.lstrip("-").replace("-", "_").upper()
            if _is_required(item):
                keywords["required"] = True
            else:
                keywords["default"] = _default(item)
        target(declared.group).add_argument(flag, **keywords)


def from_arguments(
    declaration: type[Declared], args: argparse.Namespace, *, prefix: str = "", exclude: Iterable[str] = ()
) -> Declared:
    """The ``declaration`` instance that the arguments of :func:`add_arguments` parsed into ``args`` describe."""
    hints, exclude = typing.get_type_hints(declaration), set(exclude)
    given: dict[str, Any] = {}
    for item in fields(declaration):
        inner = item.metadata.get(NESTED)
        if inner is not None:
            given[item.name] = from_arguments(hints[item.name], args, prefix=inner.prefix, exclude=inner.exclude)
            continue
        declared: Option | None = item.metadata.get(OPTION)
        if item.name not in exclude and declared is not None:
            given[item.name] = getattr(args, prefix + item.name)
    return declaration(**given)


def per_value(declaration: type[Declared], args: argparse.Namespace, name: str) -> list[Declared]:
    """One ``declaration`` instance per value given to the option ``name`` declared ``repeated`` in
    :func:`add_arguments` (``explainer build --model A --model B``), in the order given."""
    return [
        from_arguments(declaration, argparse.Namespace(**{**vars(args), name: value})) for value in getattr(args, name)
    ]


class _RaisingParser(argparse.ArgumentParser):
    """A parser for command lines read from manifests: an error raises instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise ExplainerError(message)


# --- the manifest: structured options and the rebuild command ------------------------------------------------


def values(options: Any, *, absolute_paths: bool = False) -> dict[str, Any]:
    """``{field: value}`` of the recorded options (as given, or with local paths made absolute); a nested
    declaration is a dict."""
    result: dict[str, Any] = {}
    for item, declared in _options(type(options)):
        value = getattr(options, item.name)
        if NESTED in item.metadata:
            result[item.name] = values(value, absolute_paths=absolute_paths)
            continue
        if declared is not None and not declared.recorded:
            continue
        if absolute_paths and declared is not None and declared.path is not None and value is not None:
            value = _absolute(value, declared.path)
        result[item.name] = value
    return result


def recorded(options: Any) -> dict[str, Any]:
    """The manifest's ``options``: ``{"subcommand": ..., field: value}`` (JSON), local paths made absolute.

    Options declared with ``recorded=False`` (``--force``) are left out; a nested declaration is an object.
    """
    return {SUBCOMMAND: type(options).subcommand, **values(options, absolute_paths=True)}


def from_record(record: Mapping[str, Any]) -> Any:
    """The options (a declaration instance) that :func:`recorded` turned into ``record``.

    A key the record lacks is at its default; one the declaration does not know (an option removed
    since) is an error.
    """
    declaration = declaration_of(record[SUBCOMMAND])
    return _instance(declaration, {key: value for key, value in record.items() if key != SUBCOMMAND})


def manifest_entries(options: Any) -> dict[str, Any]:
    """The manifest keys ``options`` (:func:`recorded`) and ``command`` (generated from them)."""
    record = recorded(options)
    return {"options": record, "command": command_line(record)}


def command_line(record: Mapping[str, Any], *, shown: Iterable[str] = ()) -> str:
    """The ``explainer <subcommand> ...`` command line of recorded options (see :func:`recorded`).

    Options come in declaration order, switches last; an option at its default is left out unless it is
    named in ``shown`` (a change a hint asks for reads better spelled out). A key the record lacks (written
    by an older version) is at its default.
    """
    subcommand = record[SUBCOMMAND]
    valued, switches = _words(declaration_of(subcommand), record, shown=shown)
    return shlex.join(["explainer", subcommand, *valued, *switches])


def parse_command_line(command: str) -> dict[str, Any]:
    """The recorded options of an ``explainer build`` or ``explainer crossval`` command line.

    Raises
    ------
    ExplainerError
        If ``command`` is not such a command line or its options do not parse.
    """
    try:
        words = shlex.split(command)
    except ValueError as error:
        raise ExplainerError(f"cannot split the command line {command!r}: {error}") from None
    if len(words) < 2 or words[0] != "explainer":
        raise ExplainerError(f"{command!r} is not an explainer command line")
    declaration = declaration_of(words[1])
    parser = _RaisingParser(prog=f"explainer {words[1]}", add_help=False)
    add_arguments(parser, declaration)
    options = from_arguments(declaration, parser.parse_args(words[2:]))
    return {SUBCOMMAND: words[1], **values(options, absolute_paths=False)}


def manifest_options(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The structured options of the build that wrote ``manifest`` (see :func:`recorded`).

    A manifest written before ``options`` was recorded has only its ``command``, which is parsed here
    (the only place that reads it); if that fails too the result is empty and callers fall back on the
    manifest's ``dataset`` entry.
    """
    options = manifest.get("options")
    if isinstance(options, dict):
        return options
    try:
        return parse_command_line(manifest.get("command") or "")
    except ExplainerError:
        return {}


def declaration_of(subcommand: str) -> type[Any]:
    """The options declaration of ``explainer <subcommand>`` (``build`` or ``crossval``)."""
    if subcommand == BuildOptions.subcommand:
        return BuildOptions
    from explainer.train.options import CrossvalOptions  # imports this module: resolved when needed

    if subcommand == CrossvalOptions.subcommand:
        return CrossvalOptions
    raise ExplainerError(f"unknown subcommand {subcommand!r}: options are recorded for build and crossval only")


# --- helpers --------------------------------------------------------------------------------------------------


def _options(declaration: type) -> list[tuple[Field[Any], Option | None]]:
    return [(item, item.metadata.get(OPTION)) for item in fields(declaration)]


def _value_type(hint: Any) -> type:
    """``int`` of ``int | None``, ``str`` of ``str``: the type argparse converts a value to."""
    kinds = [kind for kind in typing.get_args(hint) if kind is not type(None)]
    value_type: type = kinds[0] if kinds else hint
    return value_type


def _is_required(item: Field[Any]) -> bool:
    return item.default is MISSING and item.default_factory is MISSING


def _default(item: Field[Any]) -> Any:
    return item.default_factory() if item.default_factory is not MISSING else item.default


def _absolute(value: str, kind: PathKind) -> str:
    path = Path(value).expanduser()
    if kind == "file" or path.exists():
        return str(path.absolute())
    return value  # a Hub name


def _instance(declaration: type[Any], given: Mapping[str, Any]) -> Any:
    hints, known = typing.get_type_hints(declaration), {item.name: item for item in fields(declaration)}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ExplainerError(f"unknown {declaration.subcommand} option(s) {', '.join(unknown)}")
    return declaration(
        **{
            name: _instance(hints[name], value) if NESTED in known[name].metadata else value
            for name, value in given.items()
        }
    )


def _words(
    declaration: type,
    record: Mapping[str, Any],
    *,
    flags: Mapping[str, str] | None = None,
    exclude: Iterable[str] = (),
    shown: Iterable[str] = (),
) -> tuple[list[str], list[str]]:
    """(flags with their values, switches) of ``record`` on the command line of ``declaration``; options
    at their default are left out unless named in ``shown``."""
    hints, flags, exclude, shown = typing.get_type_hints(declaration), flags or {}, set(exclude), set(shown)
    valued: list[str] = []
    switches: list[str] = []
    for item, declared in _options(declaration):
        if item.name in exclude:
            continue
        inner = item.metadata.get(NESTED)
        if inner is not None:
            inner_valued, inner_switches = _words(
                hints[item.name], record.get(item.name) or {}, flags=inner.flags, exclude=inner.exclude
            )
            valued += inner_valued
            switches += inner_switches
            continue
        if declared is None or not declared.recorded:
            continue
        flag = flags.get(item.name, declared.flag)
        if _is_required(item):
            valued += [flag, str(record[item.name])]
            continue
        value = record.get(item.name, _default(item))
        if value is None or (value == _default(item) and item.name not in shown):
            continue
        if value is True:
            switches.append(flag)
        else:
            valued += [flag, str(value)]
    return valued, switches


# --- keyword arguments (the Python API) ---------------------------------------------------------------------


def from_keywords(declaration: type[Declared], given: Mapping[str, Any], *, caller: str) -> Declared:
    """The ``declaration`` instance of keyword arguments ``given`` (``explainer.build(..., batch_size=8)``),
    each checked against its field as argparse checks a flag: a known name, the field's type, one of its choices.

    Raises
    ------
    ExplainerError
        Naming ``caller``, the keyword and what it accepts.
    """
    hints, known = typing.get_type_hints(declaration), {item.name: item for item in fields(declaration)}
    for name, value in given.items():
        item = known.get(name)
        declared: Option | None = item.metadata.get(OPTION) if item is not None else None
        if item is None or declared is None:
            options = ", ".join(sorted(item.name for item, declared in _options(declaration) if declared))
            raise ExplainerError(f"{caller}: unknown option {name}=; the options are {options}")
        value_type = _value_type(hints[name])
        optional = type(None) in typing.get_args(hints[name])
        if value is None and optional:
            continue
        if isinstance(value, Path) and value_type is str:
            continue  # a path where the command line takes a path string
        wrong_type = not isinstance(value, value_type) or (value_type is int and isinstance(value, bool))
        if wrong_type:
            expected = value_type.__name__ + (" or None" if optional else "")
            raise ExplainerError(f"{caller}: {name}={value!r} must be {expected} ({declared.flag}: {declared.help})")
        if declared.choices is not None and value not in declared.choices:
            raise ExplainerError(f"{caller}: {name}={value!r} must be one of {', '.join(declared.choices)}")
    return declaration(**{name: str(value) if isinstance(value, Path) else value for name, value in given.items()})
