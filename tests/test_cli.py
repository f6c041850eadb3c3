"""The command line: every subcommand builds and prints its help."""

from __future__ import annotations

import pytest

from attrbench.cli import COMMANDS, main


def test_top_level_help_lists_every_command(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_subcommand_help(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert f"attrbench {command}" in capsys.readouterr().out
