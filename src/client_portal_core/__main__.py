"""The ``client-portal`` command line (also ``python -m client_portal_core``).

Each subcommand is one ``_add_<name>`` function registering its parser and
its handler; add a command by writing another and listing it in
:data:`_COMMANDS`. Settings come from ``CLIENT_PORTAL_*`` environment
variables (see :meth:`Settings.from_env`); options given here win.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from ._defaults import DefaultPlugin, _FallbackConsoleMailer
from .command_line import CommandOptions, OneLineArgumentParser, configure_logging, run_command
from .errors import ConfigurationError
from .key_rotation import KeyRotation
from .mail import ConsoleMailer
from .plugins import start_plugins
from .settings import ENV_PREFIX, Settings
from .storage import (
    ApiTokenStore,
    Database,
    OutboxEventSink,
    SqlTokenStore,
    build_tables,
    create_engine_from_url,
)
from .webhooks import Webhooks, WebhookWorker

__all__ = ["build_parser", "main", "read_key_file"]

Handler = Callable[[argparse.Namespace], int]


def _settings(args: argparse.Namespace, **more: Any) -> Settings:
    overrides: dict[str, Any] = {name: value for name, value in more.items() if value}
    if args.database_url:
        overrides["database_url"] = args.database_url
    if args.secret_key:
        overrides["secret_keys"] = args.secret_key
    elif args.secret_key_file:
        overrides["secret_keys"] = read_key_file(args.secret_key_file)
    if args.table_prefix:
        overrides["table_prefix"] = args.table_prefix
    if args.allow_private_urls:
        overrides["webhook_allow_private_urls"] = True
    return Settings.from_env(**overrides)


def read_key_file(path: str) -> list[str]:
    """The keys in ``path``, one per line, oldest first (blank lines skipped).

    :raises ConfigurationError: the file cannot be read or holds no key.
    """
    try:
        with open(path, encoding="utf-8") as lines:
            keys = [line.strip() for line in lines if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read --secret-key-file {path}: {exc}") from None
    if not keys:
        raise ConfigurationError(f"--secret-key-file {path} holds no key")
    return keys


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="SQLAlchemy URL (CLIENT_PORTAL_DATABASE_URL)")
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--secret-key",
        action="append",
        help="secret key, repeat oldest first to rotate (CLIENT_PORTAL_SECRET_KEYS); "
        "`ps` shows it to every user: prefer --secret-key-file or the variable",
    )
    keys.add_argument(
        "--secret-key-file",
        metavar="PATH",
        help="read the secret keys from this file, one per line, oldest first",
    )
    parser.add_argument("--table-prefix", help="table prefix (CLIENT_PORTAL_TABLE_PREFIX)")
    parser.add_argument(
        "--allow-private-urls",
        action="store_true",
        help="allow webhook URLs on loopback/private addresses (local development only)",
    )


def _run_webhook_worker(args: argparse.Namespace) -> int:
    settings = _settings(args)
    worker = WebhookWorker.from_settings(
        settings, batch_size=args.batch_size, poll_interval=args.poll_interval
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    try:
        # An unusable database is one line now, not a retry loop's tracebacks.
        with worker.db.engine.connect():
            pass
        logging.getLogger(__name__).info("webhook worker %s started", worker.worker_id)
        if args.once:
            worker.run_until_idle()
        else:
            worker.run(stop)
    finally:
        worker.close()
    return 0


def _add_webhook_worker(commands: Any) -> None:
    parser = commands.add_parser(
        "webhook-worker",
        help="deliver webhooks from the outbox until stopped (SIGTERM/SIGINT)",
        description="Deliver webhooks from the outbox. Run one or more per database.",
    )
    _add_common(parser)
    parser.add_argument("--once", action="store_true", help="deliver what is due, then exit")
    parser.add_argument("--batch-size", type=int, default=10, help="deliveries per claim")
    parser.add_argument(
        "--poll-interval", type=float, default=1.0, help="seconds to wait when idle"
    )
    parser.set_defaults(handler=_run_webhook_worker)


def _run_add_webhook(args: argparse.Namespace) -> int:
    settings = _settings(args)
    db = Database(
        create_engine_from_url(settings.database_url), build_tables(settings.table_prefix)
    )
    try:
        # A refused URL or event type is explained by run_command, naming the option.
        added = Webhooks(db, settings).add_endpoint(args.tenant, args.url, args.event)
    finally:
        db.engine.dispose()
    sys.stdout.write(json.dumps({"id": added.id, "secret": added.secret}) + "\n")
    return 0


def _add_add_webhook(commands: Any) -> None:
    parser = commands.add_parser(
        "add-webhook", help="add a webhook endpoint and print its id and secret as JSON"
    )
    _add_common(parser)
    parser.add_argument("--tenant", required=True, help="tenant id")
    parser.add_argument("--url", required=True, help="endpoint URL (http or https)")
    parser.add_argument(
        "--event", action="append", help="event type to receive; repeat; all by default"
    )
    parser.set_defaults(handler=_run_add_webhook)


def _run_prune_webhooks(args: argparse.Namespace) -> int:
    if args.older_than_days < 0:
        sys.stderr.write("error: --older-than-days must not be negative\n")
        return 2
    settings = _settings(args)
    db = Database(
        create_engine_from_url(settings.database_url), build_tables(settings.table_prefix)
    )
    try:
        deleted = Webhooks(db, settings).prune(timedelta(days=args.older_than_days))
    finally:
        db.engine.dispose()
    sys.stdout.write(json.dumps({"deleted_messages": deleted}) + "\n")
    return 0


def _add_prune_webhooks(commands: Any) -> None:
    parser = commands.add_parser(
        "prune-webhooks",
        help="delete delivered and failed webhook history older than N days",
        description="Delete finished webhook messages, deliveries and attempts older than "
        '--older-than-days (pending ones are kept). Prints {"deleted_messages": N}.',
    )
    _add_common(parser)
    parser.add_argument(
        "--older-than-days", type=float, default=30.0, help="age cutoff in days (default 30)"
    )
    parser.set_defaults(handler=_run_prune_webhooks)


def _load_plugin(path: str) -> object:
    """The object at ``module:attribute`` (called when it is a class or factory)."""
    import importlib

    module_name, _, attribute = path.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        found = getattr(found, part)
    return found() if callable(found) else found


def _run_renew_expiring(args: argparse.Namespace) -> int:
    from .services import ClientPortal  # the facade: this command needs a directory plugin

    if not 1 <= args.within_days <= 365:
        sys.stderr.write("error: --within-days must be 1 to 365\n")
        return 2
    settings = _settings(args, smtp_url=args.smtp_url, public_url=args.public_url)
    try:
        plugins = [_load_plugin(path) for path in args.plugin or ()]
    except (ImportError, AttributeError, ValueError) as exc:
        sys.stderr.write(f"error: cannot load --plugin: {exc}\n")
        return 2
    engine = create_engine_from_url(settings.database_url)
    try:
        # An unusable database is one line, before the portal narrates its start.
        with engine.connect():
            pass
    except BaseException:
        engine.dispose()
        raise
    portal = ClientPortal(settings, plugins=plugins, engine=engine)
    if isinstance(portal.mailer, _FallbackConsoleMailer):
        # No SMTP and no mailer plugin: print the emails, on stderr (stdout is the report).
        portal.mailer = ConsoleMailer(sys.stderr)
    try:
        report = portal.renew_expiring_tokens(args.within_days)
    finally:
        portal.engine.dispose()
    failed = [
        {"tenant_id": f.tenant_id, "type": f.subject_type, "id": f.subject_id, "error": f.error}
        for f in report.failed
    ]
    sys.stdout.write(json.dumps({"renewed": report.renewed, "failed": failed}) + "\n")
    return 1 if failed else 0


def _add_renew_expiring(commands: Any) -> None:
    parser = commands.add_parser(
        "renew-expiring",
        help="mail new portal links before the current ones expire (every tenant; for cron)",
        description="For each subject, in every tenant, whose current portal link expires "
        "within --within-days days and was not renewed yet: mint a new link and mail a "
        "renewal invitation; the old link keeps working until it expires. Exactly once per "
        "link, also with two runs at once. Needs the host's directory plugin: from the "
        "client_portal entry-point group, or --plugin. Prints "
        '{"renewed": n, "failed": [{"tenant_id", "type", "id", "error"}]}; exits 1 when '
        "a subject failed.",
    )
    _add_common(parser)
    parser.add_argument("--within-days", type=int, required=True, metavar="N")
    parser.add_argument(
        "--plugin",
        action="append",
        metavar="MODULE:ATTR",
        help="a plugin to register (an object, or a class/factory called without "
        "arguments); repeat for several",
    )
    parser.add_argument("--smtp-url", help="SMTP URL (CLIENT_PORTAL_SMTP_URL)")
    parser.add_argument("--public-url", help="base of portal links (CLIENT_PORTAL_PUBLIC_URL)")
    parser.set_defaults(handler=_run_renew_expiring)


def _run_rotate_keys(args: argparse.Namespace) -> int:
    settings = _settings(args)
    db = Database(
        create_engine_from_url(settings.database_url), build_tables(settings.table_prefix)
    )
    try:
        report = KeyRotation(db, settings).rotate(remint_old_links=args.remint_old_links)
    finally:
        db.engine.dispose()
    sys.stdout.write(json.dumps(report.to_dict()) + "\n")
    if not report.ok:
        sys.stderr.write(
            "error: some stored secrets or tokens open with none of the keys (listed in the "
            "report); add the key that sealed them and run rotate-keys again\n"
        )
    return 0 if report.ok else 1


def _add_rotate_keys(commands: Any) -> None:
    parser = commands.add_parser(
        "rotate-keys",
        help="re-seal stored webhook secrets and portal tokens under the newest key",
        description="Re-seal every webhook endpoint secret and portal token under the newest "
        "secret key (the last one), so older keys can leave the list. Prints a JSON report; "
        "anything no listed key opens is listed there, marked unsealable, and makes the "
        "exit status 1.",
    )
    _add_common(parser)
    parser.add_argument(
        "--remint-old-links",
        action="store_true",
        help="also give each subject whose current portal token an OLD key signed a new "
        "token (same expiry) signed by the newest key. This CHANGES the links that "
        "invitations and POST /token hand out from now on; links already sent keep "
        "working while the old key is listed",
    )
    parser.set_defaults(handler=_run_rotate_keys)


def _run_migrate(args: argparse.Namespace) -> int:
    from . import migrate  # Alembic is imported by this command only

    url = args.database_url or os.environ.get("CLIENT_PORTAL_DATABASE_URL")
    if not url:
        sys.stderr.write("error: pass --database-url or set CLIENT_PORTAL_DATABASE_URL\n")
        return 2
    prefix = (
        args.table_prefix
        or os.environ.get("CLIENT_PORTAL_TABLE_PREFIX")
        or migrate.DEFAULT_TABLE_PREFIX
    )
    before = migrate.current(url, table_prefix=prefix)
    migrate.upgrade(url, table_prefix=prefix, revision=args.revision)
    after = migrate.current(url, table_prefix=prefix)
    sys.stdout.write(json.dumps({"from": before, "to": after, "table_prefix": prefix}) + "\n")
    return 0


def _add_migrate(commands: Any) -> None:
    parser = commands.add_parser(
        "migrate",
        help="create or upgrade the library's tables (Alembic; see docs/migrations.md)",
        description="Upgrade the library's tables; versions go to {prefix}alembic_version.",
    )
    parser.add_argument("--database-url", help="SQLAlchemy URL (CLIENT_PORTAL_DATABASE_URL)")
    parser.add_argument("--table-prefix", help="table prefix (CLIENT_PORTAL_TABLE_PREFIX)")
    parser.add_argument("--revision", default="head", help="target revision (default head)")
    parser.set_defaults(handler=_run_migrate)


#: Lets ``plugins`` run where no key is configured: it lists, it never signs.
_LISTING_KEY = "client-portal-plugins-listing-only"


def _run_plugins(args: argparse.Namespace) -> int:
    has_key = args.secret_key or any(
        os.environ.get(ENV_PREFIX + name) for name in ("SECRET_KEY", "SECRET_KEYS")
    )
    if not has_key:
        args.secret_key = [_LISTING_KEY]
    settings = _settings(args)
    db = Database(
        create_engine_from_url(settings.database_url), build_tables(settings.table_prefix)
    )
    try:
        started = start_plugins(
            settings,
            (),
            defaults=(DefaultPlugin(ApiTokenStore(db)),),
            sql_store=SqlTokenStore(db),
            event_sink=OutboxEventSink(db),
            require_directory=False,
        )
    finally:
        db.engine.dispose()
    report = started.report
    if args.json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(report.lines()) + "\n")
    return 0


def _add_plugins(commands: Any) -> None:
    parser = commands.add_parser(
        "plugins",
        help="list the plugins a portal loads and what each hook picks",
        description="Load the plugins exactly as a portal starting with these settings "
        "would (entry points of the client_portal group, disabled_plugins, each plugin's "
        "settings from CLIENT_PORTAL_PLUGIN_* variables), check them, and list each "
        "plugin (name, distribution, version) and each hook's pick. A broken plugin is "
        "one line on stderr and exit status 2. The host's own plugins, passed in code, "
        "are not seen here; a portal logs its full report when it starts.",
    )
    _add_common(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=_run_plugins)


#: Settings that commands take as options (the others are named by their variable).
_OPTION_OF_SETTING = {
    "table_prefix": "--table-prefix",
    "smtp_url": "--smtp-url",
    "public_url": "--public-url",
}
_DEFAULT_DATABASE_URL = str(Settings.model_fields["database_url"].default)


_COMMANDS: tuple[Callable[[Any], None], ...] = (
    _add_webhook_worker,
    _add_add_webhook,
    _add_prune_webhooks,
    _add_renew_expiring,
    _add_rotate_keys,
    _add_migrate,
    _add_plugins,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = OneLineArgumentParser(prog="client-portal", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_command in _COMMANDS:
        add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler

    def run() -> int:
        configure_logging(args.log_level)
        return handler(args)

    def database_url() -> str | None:
        chosen = getattr(args, "database_url", None)
        return chosen or os.environ.get(ENV_PREFIX + "DATABASE_URL") or _DEFAULT_DATABASE_URL

    # A usage or environment mistake is one line naming the option, never a traceback.
    return run_command(run, CommandOptions(fields=_OPTION_OF_SETTING), database_url=database_url)


if __name__ == "__main__":
    raise SystemExit(main())
