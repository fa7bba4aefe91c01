"""docs/plugins.md: a section per hook (Datasette's docs test) and a minimal plugin that works.

The minimal plugin's three blocks (module, ``pyproject.toml``, kit test) are
run as written: the module and its test by pytest in a subprocess, from a
folder holding only those files; the module again through a portal, with its
setting from a ``CLIENT_PORTAL_PLUGIN_*`` variable.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from client_portal_core import ClientPortal, Settings, hooks
from client_portal_core.testing import MemoryDirectory

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def _hook_names() -> list[str]:
    return sorted(
        name for name in vars(hooks.ClientPortalSpec) if name.startswith("client_portal_")
    )


def _section(heading: str) -> str:
    text = DOCS.read_text()
    match = re.search(rf"^(#+) {re.escape(heading)}\n", text, re.MULTILINE)
    assert match is not None, f"docs/plugins.md has no section {heading!r}"
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)


@pytest.mark.parametrize("hook", _hook_names())
def test_every_hook_has_a_section_with_its_signature_arguments_and_an_example(hook: str) -> None:
    section = _section(hook)
    spec = getattr(hooks.ClientPortalSpec, hook)
    arguments = list(spec.__code__.co_varnames[1 : spec.__code__.co_argcount])

    assert f"`{hook}(" in section, "no signature line"
    for argument in arguments:
        assert f"- `{argument}`" in section, f"argument {argument} is not described"
    assert _blocks(section, "python"), "no example"


@pytest.fixture
def minimal_plugin(tmp_path: Path) -> Path:
    """The minimal plugin's module and test, written where the docs say."""
    module, test = _blocks(_section("A minimal plugin"), "python")
    (tmp_path / "file_mailer.py").write_text(module)
    (tmp_path / "test_file_mailer.py").write_text(test)
    return tmp_path


def test_the_minimal_plugin_passes_the_kit_as_written(minimal_plugin: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_file_mailer.py"],
        cwd=minimal_plugin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" in done.stdout


def test_the_minimal_plugins_entry_point_names_its_module() -> None:
    [toml] = _blocks(_section("A minimal plugin"), "toml")

    points = tomllib.loads(toml)["project"]["entry-points"]["client_portal"]

    assert points == {"file_mailer": "file_mailer:plugin"}


def test_the_minimal_plugin_sends_invitations_configured_by_environment(
    minimal_plugin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(minimal_plugin))
    import file_mailer  # type: ignore[import-not-found]

    sent = tmp_path / "sent.jsonl"
    environ = {
        "CLIENT_PORTAL_SECRET_KEY": "docs-test-secret-key-0123456789",
        "CLIENT_PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'docs.db'}",
        "CLIENT_PORTAL_LOAD_ENTRY_POINTS": "false",
        "CLIENT_PORTAL_PLUGIN_FILE_MAILER_PATH": str(sent),
    }
    portal = ClientPortal(
        Settings.from_env(environ), plugins=[MemoryDirectory(), file_mailer.plugin]
    )
    try:
        portal.create_schema()
        result = portal.invite("tenant-a", "contact", "1")
    finally:
        portal.engine.dispose()

    [line] = sent.read_text().splitlines()
    assert json.loads(line)["to"] == "ann@example.com"
    assert result.token.url in json.loads(line)["text"]
    assert portal.plugin_report.choice("client_portal_mailer").provides == "FileMailer"
