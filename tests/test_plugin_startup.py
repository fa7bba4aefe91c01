"""Start-up checks of plugins: every mistake is one clear line before the first request.

Entry-point plugins are real installed distributions here: a module and its
``*.dist-info`` (METADATA, entry_points.txt) in a folder on ``sys.path``,
which is what ``pip install`` leaves behind.
"""

from __future__ import annotations

import json
import logging
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from client_portal_core import (
    ConfigurationError,
    MailDeliveryError,
    MemoryMailer,
    OutgoingEmail,
    Settings,
    hookimpl,
)
from client_portal_core.__main__ import main as client_portal_main
from client_portal_core.errors import InvitationFailed
from client_portal_core.plugins import PluginSettings
from conftest import TENANT_A, Directory, PortalClient
from support import run_host_cli

Install = Callable[..., Path]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: start-up checks do not depend on the database (the contract suite
    runs the stores on PostgreSQL too)."""
    return f"sqlite:///{tmp_path / 'portal.db'}"


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Install:
    """Install a one-module distribution publishing entry points in the client_portal group."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install_dist(
        dist: str, source: str, entry_points: dict[str, str] | None = None, version: str = "1.2"
    ) -> Path:
        module = dist.replace("-", "_")
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{module}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        points = entry_points or {module: module}
        lines = "".join(f"{name} = {value}\n" for name, value in points.items())
        (info / "entry_points.txt").write_text(f"[client_portal]\n{lines}")
        return site

    return install_dist


MAILER_SOURCE = """
from client_portal_core import MemoryMailer, hookimpl

MAILER = MemoryMailer()

@hookimpl
def client_portal_mailer(settings):
    return MAILER
"""


# -- loading ------------------------------------------------------------------


def test_an_entry_point_that_fails_to_import_names_itself_its_distribution_and_the_cause(
    make_portal: Any, install: Install
) -> None:
    install("broken-plugin", "import no_such_module_anywhere\n", {"broken": "broken_plugin"})

    with pytest.raises(ConfigurationError) as raised:
        make_portal(load_entry_points=True)

    message = str(raised.value)
    assert "\n" not in message
    assert "entry point 'broken = broken_plugin'" in message
    assert "broken-plugin 1.2" in message
    assert "ModuleNotFoundError: No module named 'no_such_module_anywhere'" in message


def test_an_entry_point_pointing_at_a_missing_attribute_is_reported(
    make_portal: Any, install: Install
) -> None:
    install("attr-plugin", "X = 1\n", {"attr": "attr_plugin:Missing"})

    with pytest.raises(ConfigurationError, match=r"'attr = attr_plugin:Missing'.*AttributeError"):
        make_portal(load_entry_points=True)


def test_a_disabled_entry_point_is_not_even_imported(make_portal: Any, install: Install) -> None:
    install("broken-plugin", "raise RuntimeError('imported')\n", {"broken": "broken_plugin"})

    portal = make_portal(load_entry_points=True, disabled_plugins=["broken"])

    [disabled] = portal.plugin_report.disabled
    assert (disabled.name, disabled.distribution, disabled.version) == (
        "broken",
        "broken-plugin",
        "1.2",
    )


def test_a_misspelled_hook_is_refused_with_a_suggestion(make_portal: Any, directory: Any) -> None:
    class Typo:
        @hookimpl
        def client_portal_mailr(self, settings: Settings) -> Any:
            return MemoryMailer()

    with pytest.raises(ConfigurationError) as raised:
        make_portal(plugins=(directory, Typo()))

    assert "plugin 'Typo' implements unknown hook 'client_portal_mailr'" in str(raised.value)
    assert "did you mean client_portal_mailer?" in str(raised.value)


def test_a_misspelled_hook_of_an_entry_point_names_its_distribution(
    make_portal: Any, install: Install
) -> None:
    install("typo-plugin", MAILER_SOURCE.replace("client_portal_mailer", "client_portal_mailler"))

    with pytest.raises(ConfigurationError, match=r"'typo_plugin' \(typo-plugin 1.2\) implements"):
        make_portal(load_entry_points=True)


def test_a_hook_without_hookimpl_is_refused(make_portal: Any, directory: Any) -> None:
    class Forgot:
        def client_portal_mailer(self, settings: Settings) -> Any:
            return MemoryMailer()

    with pytest.raises(ConfigurationError, match="defines client_portal_mailer without @hookimpl"):
        make_portal(plugins=(directory, Forgot()))


def test_a_hook_asking_for_an_argument_its_spec_lacks_is_refused(
    make_portal: Any, directory: Any
) -> None:
    class Greedy:
        @hookimpl
        def client_portal_mailer(self, settings: Settings, database: Any) -> Any:
            return MemoryMailer()

    with pytest.raises(ConfigurationError, match=r"plugin 'Greedy' is invalid: .*database"):
        make_portal(plugins=(directory, Greedy()))


# -- provider results ------------------------------------------------------------


def test_a_mailer_hook_returning_a_string_fails_at_start_up(
    make_portal: Any, directory: Any
) -> None:
    class StringMailer:
        @hookimpl
        def client_portal_mailer(self, settings: Settings) -> Any:
            return "smtp://mail.example.com"

    with pytest.raises(ConfigurationError) as raised:
        make_portal(plugins=(directory, StringMailer()), mailer=None)

    assert str(raised.value) == (
        "plugin error: client_portal_mailer of plugin 'StringMailer' returned str, "
        "which has no send(email) method: not a Mailer"
    )


def test_a_token_store_hook_returning_a_dict_fails_at_start_up(
    make_portal: Any, directory: Any
) -> None:
    class DictStore:
        @hookimpl
        def client_portal_token_store(self, settings: Settings) -> Any:
            return {}

    with pytest.raises(ConfigurationError) as raised:
        make_portal(plugins=(directory, DictStore()))

    message = str(raised.value)
    assert "client_portal_token_store of plugin 'DictStore' returned dict" in message
    assert "lacks get_token, find_token_by_lookup_hash, get_or_create_token" in message


def test_a_provider_hook_that_raises_names_its_plugin(make_portal: Any, install: Install) -> None:
    install(
        "raising-plugin",
        """
        from client_portal_core import hookimpl

        @hookimpl
        def client_portal_mailer(settings):
            raise RuntimeError("cannot reach the provider")
        """,
    )

    with pytest.raises(ConfigurationError) as raised:
        make_portal(load_entry_points=True, mailer=None)

    assert str(raised.value) == (
        "plugin error: client_portal_mailer of plugin 'raising_plugin' (raising-plugin 1.2) "
        "raised RuntimeError: cannot reach the provider"
    )


# -- async mailers ---------------------------------------------------------------


class AsyncRecordingMailer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, email: OutgoingEmail) -> None:
        import asyncio

        await asyncio.sleep(0)
        self.sent.append((email.to, threading.current_thread().name))


class AsyncMailerPlugin:
    def __init__(self) -> None:
        self.mailer = AsyncRecordingMailer()

    @hookimpl
    def client_portal_mailer(self, settings: Settings) -> Any:
        return self.mailer


def test_an_async_mailer_is_awaited_off_the_request_event_loop(
    make_portal: Any, make_client: Any, directory: Any
) -> None:
    plugin = AsyncMailerPlugin()
    portal = make_portal(plugins=(directory, plugin), mailer=None)
    client: PortalClient = make_client(portal, portal.create_api_token(TENANT_A).token)

    reply = client.post("/api/v1/client-portal/contacts/1/invite")

    assert reply.status == 200
    # Sent for real, on the bridge's own loop thread: never the server's event loop.
    assert plugin.mailer.sent == [("ann@example.com", "client-portal-async-mailer")]
    assert portal.list_invitations(TENANT_A)[0].status == "sent"


def test_a_send_returning_an_unawaited_coroutine_is_never_recorded_sent(
    make_portal: Any,
) -> None:
    inner = AsyncRecordingMailer()

    class Disguised:
        def send(self, email: OutgoingEmail) -> Any:
            return inner.send(email)  # a coroutine nobody awaits

    portal = make_portal(mailer=Disguised())

    with pytest.raises(InvitationFailed, match="unawaited coroutine"):
        portal.invite(TENANT_A, "contact", "1")

    assert inner.sent == []
    assert portal.list_invitations(TENANT_A)[0].status == "failed"


# -- plugin settings --------------------------------------------------------------


class ApiMailerSettings(PluginSettings):
    plugin_name = "api_mailer"
    api_url: str
    api_key: str
    timeout: float = 10.0


class ApiMailerPlugin:
    client_portal_settings = ApiMailerSettings

    def __init__(self) -> None:
        self.seen: list[ApiMailerSettings] = []

    @hookimpl
    def client_portal_mailer(self, settings: Settings) -> Any:
        self.seen.append(ApiMailerSettings.from_settings(settings))
        return MemoryMailer()


def test_a_plugin_reads_its_settings_from_build(make_portal: Any, directory: Any) -> None:
    plugin = ApiMailerPlugin()

    make_portal(
        plugins=(directory, plugin),
        mailer=None,
        plugin_settings={
            "api_mailer": {"api_url": "https://api.test", "api_key": "k", "timeout": 3}
        },
    )

    assert plugin.seen == [ApiMailerSettings(api_url="https://api.test", api_key="k", timeout=3.0)]


def test_a_plugin_reads_its_settings_from_the_environment(database_url: str) -> None:
    from client_portal_core import ClientPortal

    plugin = ApiMailerPlugin()
    environ = {
        "CLIENT_PORTAL_SECRET_KEY": "x" * 32,
        "CLIENT_PORTAL_DATABASE_URL": database_url,
        "CLIENT_PORTAL_LOAD_ENTRY_POINTS": "false",
        "CLIENT_PORTAL_PLUGIN_API_MAILER_API_URL": "https://env.test",
        "CLIENT_PORTAL_PLUGIN_API_MAILER_API_KEY": "from-env",
        "CLIENT_PORTAL_PLUGIN_API_MAILER_TIMEOUT": "2.5",
    }

    portal = ClientPortal(Settings.from_env(environ), plugins=(Directory(), plugin))
    portal.engine.dispose()

    assert plugin.seen == [
        ApiMailerSettings(api_url="https://env.test", api_key="from-env", timeout=2.5)
    ]


def test_a_missing_plugin_setting_is_one_line_naming_plugin_field_and_variable(
    make_portal: Any, directory: Any
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        make_portal(
            plugins=(directory, ApiMailerPlugin()), plugin_settings={"api_mailer": {"api_url": "u"}}
        )

    assert str(raised.value) == (
        "plugin error: plugin 'ApiMailerPlugin': invalid settings of plugin 'api_mailer': "
        "api_key: Field required (set CLIENT_PORTAL_PLUGIN_API_MAILER_API_KEY)"
    )


def test_an_invalid_plugin_setting_never_echoes_its_value(make_portal: Any, directory: Any) -> None:
    settings = {"api_url": "u", "api_key": "k", "timeout": "secret-looking-value"}

    with pytest.raises(ConfigurationError) as raised:
        make_portal(
            plugins=(directory, ApiMailerPlugin()), plugin_settings={"api_mailer": settings}
        )

    assert "timeout: Input should be a valid number" in str(raised.value)
    assert "secret-looking-value" not in str(raised.value)


def test_a_misspelled_plugin_variable_is_refused(database_url: str) -> None:
    from client_portal_core import ClientPortal

    environ = {
        "CLIENT_PORTAL_SECRET_KEY": "x" * 32,
        "CLIENT_PORTAL_DATABASE_URL": database_url,
        "CLIENT_PORTAL_LOAD_ENTRY_POINTS": "false",
        "CLIENT_PORTAL_PLUGIN_API_MAILER_API_URL": "https://env.test",
        "CLIENT_PORTAL_PLUGIN_API_MAILER_API_KEY": "k",
        "CLIENT_PORTAL_PLUGIN_API_MAILER_TIMEOUTS": "3",
    }

    with pytest.raises(ConfigurationError, match="CLIENT_PORTAL_PLUGIN_API_MAILER_TIMEOUTS names"):
        ClientPortal(Settings.from_env(environ), plugins=(Directory(), ApiMailerPlugin()))


def test_a_settings_model_without_a_plugin_name_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="plugin_name must be a lower-case name"):

        class Nameless(PluginSettings):
            value: int = 1


# -- visibility ------------------------------------------------------------------


def test_the_report_names_each_plugin_and_each_hooks_pick(
    make_portal: Any, install: Install
) -> None:
    install("report-mailer", MAILER_SOURCE, {"report_mailer": "report_mailer"})

    portal = make_portal(load_entry_points=True, mailer=None)
    report = portal.plugin_report

    names = [(p.name, p.source, p.distribution, p.version) for p in report.plugins]
    assert ("report_mailer", "entry point", "report-mailer", "1.2") in names
    assert ("Directory", "host", None, None) in names
    mailer = report.choice("client_portal_mailer")
    assert (mailer.chosen, mailer.provides) == ("report_mailer", "MemoryMailer")
    assert report.choice("client_portal_token_store").chosen == "client_portal_core"
    assert report.choice("client_portal_find_recipient").implementations == ("Directory",)


def test_the_portal_logs_its_plugins_once_at_start(
    make_portal: Any, directory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="client_portal_core.plugins"):
        portal = make_portal(plugins=(directory, AsyncMailerPlugin()), mailer=None)
        portal.get_or_create_token(TENANT_A, "contact", "1")

    [line] = [r.getMessage() for r in caplog.records if r.name == "client_portal_core.plugins"]
    assert "client_portal_mailer: AsyncMailerPlugin (AsyncRecordingMailer)" in line
    assert "client_portal_token_store: client_portal_core (SqlTokenStore)" in line


def test_the_plugins_command_lists_plugins_distributions_and_picks(
    install: Install, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    install("cli-mailer", MAILER_SOURCE, {"cli_mailer": "cli_mailer"}, version="3.1")
    monkeypatch.delenv("CLIENT_PORTAL_SECRET_KEY", raising=False)

    assert client_portal_main(["plugins", "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    plugin = next(p for p in report["plugins"] if p["name"] == "cli_mailer")
    assert (plugin["distribution"], plugin["version"]) == ("cli-mailer", "3.1")
    assert plugin["entry_point"] == "cli_mailer = cli_mailer"
    mailer = next(h for h in report["hooks"] if h["hook"] == "client_portal_mailer")
    assert (mailer["chosen"], mailer["provides"]) == ("cli_mailer", "MemoryMailer")


def test_the_plugins_command_reports_a_broken_plugin_in_one_line(
    install: Install, capsys: pytest.CaptureFixture[str]
) -> None:
    install("broken-plugin", "import no_such_module_anywhere\n", {"broken": "broken_plugin"})

    assert client_portal_main(["plugins"]) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: plugin error: entry point 'broken = broken_plugin'")


class Leaky:
    def send(self, email: OutgoingEmail) -> None:
        raise RuntimeError("login failed for api_key=sk_live_hunter2")


class Refusing:
    def send(self, email: OutgoingEmail) -> None:
        raise MailDeliveryError("the provider refused the recipient")


def test_an_unexpected_mailer_error_is_logged_without_its_text(
    make_portal: Any, caplog: pytest.LogCaptureFixture
) -> None:
    portal = make_portal(mailer=Leaky())

    with caplog.at_level(logging.INFO), pytest.raises(InvitationFailed):
        portal.invite(TENANT_A, "contact", "1")

    logged = caplog.text
    assert "the mailer of the mailer= argument raised RuntimeError" in logged
    assert "hunter2" not in logged
    assert all(record.exc_info is None for record in caplog.records)


def test_a_mail_delivery_error_is_logged_with_its_reason_and_the_plugin(
    make_portal: Any, directory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class RefusingPlugin:
        @hookimpl
        def client_portal_mailer(self, settings: Settings) -> Any:
            return Refusing()

    portal = make_portal(plugins=(directory, RefusingPlugin()), mailer=None)

    with caplog.at_level(logging.WARNING), pytest.raises(InvitationFailed):
        portal.invite(TENANT_A, "contact", "1")

    assert (
        "the mailer of plugin 'RefusingPlugin' failed (MailDeliveryError): "
        "the provider refused the recipient"
    ) in caplog.text


# -- the example hosts -------------------------------------------------------------

HOSTS = [
    pytest.param("examples.fastapi_host", id="fastapi"),
    pytest.param("examples.flask_host", id="flask"),
]


@pytest.mark.parametrize("host", HOSTS)
def test_serve_with_a_broken_plugin_exits_2_with_one_line(
    host: str, install: Install, tmp_path: Path
) -> None:
    site = install("broken-plugin", "import no_such_module_anywhere\n", {"broken": "broken_plugin"})
    database = f"sqlite:///{tmp_path / 'host.db'}"

    done = run_host_cli(
        host,
        "serve",
        "--port",
        "9",
        "--database-url",
        database,
        "--secret-key",
        "k" * 32,
        env={"PYTHONPATH": str(site)},
    )

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "serve: error: plugin error: entry point 'broken = broken_plugin'" in line
    assert "broken-plugin 1.2" in line


FILE_MAILER_SOURCE = """
from typing import ClassVar
from client_portal_core import hookimpl
from client_portal_core.plugins import PluginSettings

class FileMailerSettings(PluginSettings):
    plugin_name: ClassVar[str] = "file_mailer"
    path: str

class FileMailer:
    def __init__(self, path):
        self.path = path

    def send(self, email):
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(email.to + "\\n")

class Plugin:
    client_portal_settings = FileMailerSettings

    @hookimpl
    def client_portal_mailer(self, settings):
        return FileMailer(FileMailerSettings.from_settings(settings).path)

plugin = Plugin()
"""


@pytest.mark.parametrize("host", HOSTS)
def test_invite_bulk_sends_through_an_installed_mailer_plugin_configured_by_environment(
    host: str, install: Install, tmp_path: Path
) -> None:
    site = install("file-mailer", FILE_MAILER_SOURCE, {"file_mailer": "file_mailer:plugin"})
    database = f"sqlite:///{tmp_path / 'host.db'}"
    outbox = tmp_path / "sent.txt"
    env = {"PYTHONPATH": str(site), "CLIENT_PORTAL_PLUGIN_FILE_MAILER_PATH": str(outbox)}
    seeded = run_host_cli(host, "seed", "--database-url", database, "--secret-key", "k" * 32)
    tenant = json.loads(seeded.stdout)["tenants"][0]

    done = run_host_cli(
        host,
        "invite-bulk",
        "--database-url",
        database,
        "--secret-key",
        "k" * 32,
        "--tenant",
        str(tenant["id"]),
        "--all-contacts",
        env=env,
    )

    report = json.loads(done.stdout)
    emails = sorted(c["email"] for c in tenant["contacts"] if c["email"])
    assert report["sent"] == len(emails)
    assert sorted(outbox.read_text().split()) == emails
    assert "Mail: FileMailer from plugin file_mailer, file-mailer 1.2." in done.stderr
    assert "----- email -----" not in done.stderr + done.stdout
