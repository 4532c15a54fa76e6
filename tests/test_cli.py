"""The command line: every listed command registers its parser, and a missing one fails loudly."""

from __future__ import annotations

import argparse

import pytest

from explainer import cli


def test_every_command_registers_a_subparser() -> None:
    parser = cli.make_parser()
    subparsers = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    assert sorted(subparsers.choices) == sorted(cli.COMMANDS)
    for name in cli.COMMANDS:
        assert callable(subparsers.choices[name].get_default("func")), name


def test_a_missing_command_module_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # A typo in COMMANDS (or a deleted module) must not silently drop the command from the CLI.
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "biuld"))
    with pytest.raises(ModuleNotFoundError, match="explainer.commands.biuld"):
        cli.make_parser()
