"""The ``explainer`` command line.

Each subcommand lives in ``explainer/commands/<name>.py`` with ``register(subparsers)`` (adds its
parser and sets ``func``) so that adding a command is adding a file and a name below. Heavy imports
(torch, transformers, dash) happen inside the commands, so ``explainer --help`` is instant.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator

from explainer import __version__
from explainer.errors import ExplainerError

COMMANDS = ("build", "check", "info", "serve", "train", "explain", "merge", "crossval", "slices", "compare")
# Commands that SIGTERM stops like SIGINT (clean-up, one line, status 130) rather than at once.
STOPPED_BY_TERM = ("build",)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="explainer", description="Error analysis for NER models and datasets.")
    parser.add_argument("--version", action="version", version=f"explainer {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"explainer.commands.{name}").register(subparsers)
    return parser


def _raise_interrupt(signum: int, frame: object) -> None:
    """SIGTERM handler: unwind as SIGINT does, so that temporary files are removed on the way out.

    Later SIGTERMs are ignored, so that they cannot cut the clean-up short (a supervisor that cannot
    wait sends SIGKILL, which leaves what the next build clears).
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


@contextlib.contextmanager
def term_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (in the main thread, where handlers can be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        with term_as_interrupt() if args.command in STOPPED_BY_TERM else contextlib.nullcontext():
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
