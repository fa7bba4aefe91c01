"""Pluggy: a fresh plugin manager per portal, host plugins beat the defaults, entry points."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import Any

import pytest

from client_portal_core import (
    ClientPortal,
    ConfigurationError,
    ConsoleMailer,
    MemoryMailer,
    Settings,
    SMTPMailer,
    hookimpl,
)
from client_portal_core.errors import Unauthorized
from conftest import API, SECRET_KEY, TENANT_A, Directory, HostKeys, PortalClient


class MailerPlugin:
    def __init__(self) -> None:
        self.mailer = MemoryMailer()

    @hookimpl
    def client_portal_mailer(self, settings: Settings) -> MemoryMailer:
        return self.mailer


class CountingTokenStore:
    """A token store plugin that wraps the library's SQL store."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def client_portal_token_store(self, settings: Settings, sql_store: Any) -> Any:
        plugin = self

        class Wrapped:
            def __getattr__(self, name: str) -> Any:
                return getattr(sql_store, name)

            def get_or_create_token(self, *args: Any, **kwargs: Any) -> Any:
                plugin.calls += 1
                return sql_store.get_or_create_token(*args, **kwargs)

        return Wrapped()


def test_each_portal_has_its_own_plugin_manager(make_portal: Any, directory: Directory) -> None:
    host_keys = HostKeys()
    with_plugin = make_portal(plugins=(directory, host_keys))
    without = make_portal(plugins=(Directory(),), create_schema=False)

    assert with_plugin.plugin_manager is not without.plugin_manager
    assert with_plugin.plugin_manager.is_registered(host_keys)
    assert not without.plugin_manager.is_registered(host_keys)
    assert not without.plugin_manager.is_registered(directory)
    assert with_plugin.authenticate("host-key-a") == TENANT_A
    with pytest.raises(Unauthorized):
        without.authenticate("host-key-a")


def test_host_mailer_plugin_overrides_the_default(make_portal: Any, directory: Directory) -> None:
    plugin = MailerPlugin()
    portal = make_portal(plugins=(directory, plugin), mailer=None, smtp_url="smtp://127.0.0.1:2525")

    portal.invite(TENANT_A, "contact", 1)

    assert portal.mailer is plugin.mailer
    assert [m.to for m in plugin.mailer.outbox] == ["ann@example.com"]


@pytest.mark.parametrize(
    ("smtp_url", "expected"),
    [
        pytest.param(None, ConsoleMailer, id="console-without-smtp-url"),
        pytest.param("smtp://127.0.0.1:2525", SMTPMailer, id="smtp-with-smtp-url"),
    ],
)
def test_default_mailer_follows_smtp_url(
    make_portal: Any, smtp_url: str | None, expected: type
) -> None:
    assert isinstance(make_portal(mailer=None, smtp_url=smtp_url).mailer, expected)


def test_console_fallback_warns_once_when_it_prints_mail(
    make_portal: Any, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    portal = make_portal(mailer=None, smtp_url=None)
    with caplog.at_level(logging.WARNING, logger="client_portal_core"):
        portal.create_schema()
        assert not caplog.records  # building the portal prints no mail: no warning
        portal.invite(TENANT_A, "contact", 1)
        portal.invite(TENANT_A, "company", 10)

    # Printed mail carries working portal links: the fallback says so, once.
    warnings = [r for r in caplog.records if "printed to standard output" in r.getMessage()]
    assert len(warnings) == 1
    assert capsys.readouterr().out.count("----- email -----") == 2


def test_host_token_store_plugin_is_used(make_portal: Any, directory: Directory) -> None:
    store = CountingTokenStore()
    portal = make_portal(plugins=(directory, store))

    first = portal.get_or_create_token(TENANT_A, "contact", 1)
    second = portal.get_or_create_token(TENANT_A, "contact", 1)

    assert store.calls == 2
    assert first.token == second.token


def test_host_authenticate_plugin_wins_over_the_default(
    make_portal: Any, make_client: Any, directory: Directory
) -> None:
    class ClaimsEverything:
        @hookimpl(tryfirst=True)
        def client_portal_authenticate(self, api_key: str) -> str:
            return "tenant-from-host"

    portal = make_portal(plugins=(directory, ClaimsEverything()))
    token = portal.create_api_token(TENANT_A).token
    client: PortalClient = make_client(portal, token)

    reply = client.post(f"{API}/token", json={"type": "contact", "id": 1})

    # The host said the key belongs to a tenant without that contact.
    assert reply.status == 404


def test_missing_directory_plugin_is_a_configuration_error(database_url: str) -> None:
    settings = Settings.build(
        secret_key=SECRET_KEY, database_url=database_url, load_entry_points=False
    )

    with pytest.raises(ConfigurationError, match="client_portal_find_recipient"):
        ClientPortal(settings, plugins=(HostKeys(),))


ENTRY_POINT_PLUGIN = """
from client_portal_core import hookimpl

@hookimpl
def client_portal_authenticate(api_key):
    return "tenant-a" if api_key == "entry-point-key" else None
"""


@pytest.fixture
def entry_point_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An installed distribution publishing a plugin in the client_portal group."""
    module = f"cp_entry_plugin_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(ENTRY_POINT_PLUGIN))
    dist_info = tmp_path / f"{module}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[client_portal]\nentry = {module}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return module


def test_entry_point_plugins_are_loaded(make_portal: Any, entry_point_plugin: str) -> None:
    portal = make_portal(load_entry_points=True)

    assert portal.authenticate("entry-point-key") == TENANT_A


def test_entry_point_loading_can_be_turned_off(make_portal: Any, entry_point_plugin: str) -> None:
    portal = make_portal(load_entry_points=False)

    with pytest.raises(Unauthorized):
        portal.authenticate("entry-point-key")
