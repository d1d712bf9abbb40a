"""The command group: usage errors, ``--help``, ``python -m randread``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import invoke, run


def test_usage_errors_exit_with_status_2(sample_zip: Path) -> None:
    result = run("ls", "--no-such-option", sample_zip)
    assert result.returncode == 2
    assert b"No such option" in result.stderr
    assert invoke("ls").exit_code == 2
    assert invoke("no-such-command").exit_code == 2


def test_python_m_randread_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("cat", "convert", "extract", "info", "ls", "verify"):
        assert f"  {command} " in result.stdout.decode()


COMMANDS = ("ls", "cat", "info", "verify", "extract", "convert", "bench")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout
    assert f"randread {command} " in result.stdout
