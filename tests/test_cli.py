"""The command line: every listed command registers its parser, and a missing one fails loudly."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

import pytest
from helpers import REPO_ROOT, write_conll

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


@pytest.mark.slow
def test_sigterm_stops_a_build_like_sigint(tiny_model, tmp_path) -> None:
    """SIGTERM mid-build: one `error:` line, status 130 (as for SIGINT), no temporary files, old cache as it was."""
    out = tmp_path / "cache"
    assert (
        cli.main(
            [
                "build",
                "--model",
                str(tiny_model),
                "--dataset",
                str(write_conll(tmp_path / "one.conll", [[("John", "B-PER")]])),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    before = (out / "manifest.json").read_text()
    sentence = [("John", "B-PER"), ("Smith", "I-PER"), ("visited", "O"), ("Paris", "B-LOC")] * 5
    big = write_conll(tmp_path / "big.conll", [sentence] * 3000)
    command = ["build", "--model", str(tiny_model), "--dataset", str(big), "--out", str(out), "--batch-size", "1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "explainer", *command], cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    tmp = out.parent / f".cache.tmp-{process.pid}"
    try:
        deadline = time.monotonic() + 120
        while not (tmp / "hidden.npy").exists():  # the forward passes have started
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = [line for line in err.decode().replace("\r", "\n").splitlines() if line.strip()]
    assert process.returncode == 130
    assert lines[-1] == "error: interrupted; nothing was written"
    assert not [line for line in lines[:-1] if "error" in line or "Traceback" in line], lines
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".cache.")) == []
    assert (out / "manifest.json").read_text() == before


def test_sigterm_is_restored_after_a_build(tmp_path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    assert (
        cli.main(
            ["build", "--model", str(tmp_path / "missing"), "--dataset", str(tmp_path), "--out", str(tmp_path / "out")]
        )
        == 2
    )
    assert signal.getsignal(signal.SIGTERM) is before
