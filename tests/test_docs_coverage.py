"""The README documents every setting and every command a user can run.

A setting added to :class:`Settings`, or a subcommand added to ``client-portal``
or to the example hosts, fails here until the README names it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from client_portal_core import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _section(heading: str) -> str:
    start = README.index(f"\n## {heading}\n")
    end = README.find("\n## ", start + 1)
    return README[start : None if end < 0 else end]


def test_every_setting_has_a_row_in_the_configuration_table() -> None:
    rows = re.findall(r"^\| `([a-z_]+)`", _section("Configuration"), re.MULTILINE)

    assert sorted(set(Settings.model_fields) - set(rows)) == []
    assert sorted(set(rows) - set(Settings.model_fields)) == []


def _subcommands(*command: str) -> list[str]:
    """The subcommands ``command --help`` lists (argparse's COMMAND section)."""
    shown = subprocess.run(
        [*command, "--help"], capture_output=True, text=True, timeout=90, check=True, cwd=ROOT
    ).stdout
    section = shown.split("  COMMAND\n", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^    ([a-z][a-z-]+)", section, re.MULTILINE)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param((sys.executable, "-m", "client_portal_core"), id="client-portal"),
        pytest.param((sys.executable, "-m", "examples.fastapi_host"), id="fastapi-host"),
        pytest.param((sys.executable, "-m", "examples.flask_host"), id="flask-host"),
    ],
)
def test_every_subcommand_is_documented_in_the_readme(command: tuple[str, ...]) -> None:
    names = _subcommands(*command)

    assert len(names) >= 7
    assert [name for name in names if not re.search(rf"\b{re.escape(name)} ", README)] == []
