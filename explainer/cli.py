"""The ``explainer`` command line.

Each subcommand lives in ``explainer/commands/<name>.py`` with ``register(subparsers)`` (adds its
parser and sets ``func``) so that adding a command is adding a file and a name below. Heavy imports
(torch, transformers, dash) happen inside the commands, so ``explainer --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from explainer import __version__
from explainer.errors import ExplainerError

COMMANDS = ("build", "info", "serve", "train", "explain", "merge", "crossval")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="explainer", description="Error analysis for NER models and datasets.")
    parser.add_argument("--version", action="version", version=f"explainer {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"explainer.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        result = args.func(args)
    except ExplainerError as error:
        print(f"error: {error}", file=sys.stderr)
        if error.details:
            print(error.details, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
