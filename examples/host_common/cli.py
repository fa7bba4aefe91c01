"""The command line shared by both example hosts: ``serve``, ``seed``, ``add-webhook``,
``invite-bulk``, ``configure``, ``set-token-expiry``, ``create-api-token`` and
``renew-expiring``.

Exit status: 0 on success, 1 when something fails at run time (database or
port unusable; for ``invite-bulk``, a subject not sent), 2 for invalid
options or an unsupported command, 130 when interrupted. Errors are one line
on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from limits import parse as parse_rate_limit
from sqlalchemy.exc import SQLAlchemyError

from client_portal_core import (
    ALL_EVENT_TYPES,
    ClientPortal,
    ConfigurationError,
    ConsoleMailer,
    MailDeliveryError,
    PortalError,
    Scope,
    SubjectType,
)
from client_portal_core.bulk import BulkItem, BulkProgress, BulkReport, SubjectRef
from client_portal_core.errors import BulkJobBusy, NotFound, ValidationFailed
from client_portal_core.validation import check_custom_message

from .cli_portal import add_portal_commands, configure, set_token_expiry
from .db import tenants
from .demo import demo_banner
from .directory import parse_host_id
from .outbox import demo_outbox_folder, outbox_mailer
from .runtime import (
    DEFAULT_DATABASE_URL,
    SECRET_KEY_ENV,
    HostRuntime,
    PortalOptions,
    open_runtime,
)
from .seed import describe_tenants, has_tenants, seed_demo_data

__all__ = ["CliError", "HostApp", "build_parser", "main"]

AppT = TypeVar("AppT")

_SUPPORTED_DATABASES = ("sqlite", "postgresql")
_SUPPORTED_RATE_LIMIT_STORAGE = ("memory", "redis", "rediss")
_MIN_SECRET_KEY_LENGTH = 16


@dataclass(frozen=True, slots=True)
class HostApp(Generic[AppT]):
    """What a framework host plugs into the shared command line.

    :param command: how the user starts it, e.g. ``"python -m examples.fastapi_host"``.
    :param framework: shown in help and logs, e.g. ``"FastAPI"``.
    :param server: the production server's name, e.g. ``"uvicorn"``.
    :param create_app: builds the web app around a portal.
    :param serve: runs the app until interrupted: ``serve(app, host, port,
        forwarded_allow_ips)``; the last is ``None`` (trust no proxy header)
        or the ``--forwarded-allow-ips`` value, a comma-separated list of
        addresses and networks, or ``*``.
    """

    command: str
    framework: str
    server: str
    create_app: Callable[[ClientPortal], AppT]
    serve: Callable[[AppT, str, int, str | None], None]


class CliError(Exception):
    """A failure reported as one line on stderr with exit status :attr:`code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# -- option types: each raises ArgumentTypeError, which argparse turns into
# -- "error: argument --x: ..." and exit status 2.


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port (1-65535): {value!r}")
    return int(value)


def _database_url(value: str) -> str:
    try:
        url = sa.make_url(value)
    except SQLAlchemyError as exc:
        raise argparse.ArgumentTypeError(f"not a SQLAlchemy database URL: {value!r}") from exc
    backend = url.get_backend_name()
    if backend not in _SUPPORTED_DATABASES:
        raise argparse.ArgumentTypeError(
            f"unsupported database {backend!r}; use sqlite:///FILE or "
            "postgresql+psycopg://USER@HOST:PORT/DB"
        )
    if backend == "postgresql" and url.drivername == "postgresql":
        # SQLAlchemy's default PostgreSQL driver is psycopg2; the project's
        # "postgres" extra installs psycopg 3.
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a valid URL: {value!r} ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"not an http:// or https:// URL: {value!r}")
    return value


def _smtp_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a valid URL: {value!r} ({exc})") from exc
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"not an smtp://host:port or smtps:// URL: {value!r}")
    return value


def _rate_limit(value: str) -> str:
    try:
        parse_rate_limit(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"not a rate limit like '60/minute' or '1000/hour': {value!r}"
        ) from exc
    return value


def _rate_limit_storage(value: str) -> str:
    scheme, separator, _ = value.partition("://")
    if not separator or scheme not in _SUPPORTED_RATE_LIMIT_STORAGE:
        raise argparse.ArgumentTypeError(
            f"not a rate limit storage URI (memory:// or redis://HOST:PORT): {value!r}"
        )
    return value


def _forwarded_allow_ips(value: str) -> str:
    if value.strip() == "*":
        return "*"
    for item in value.split(","):
        try:
            ipaddress.ip_network(item.strip(), strict=False)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(
                f"not a comma-separated list of IP addresses or networks, or '*': {value!r}"
            ) from exc
    return ",".join(item.strip() for item in value.split(","))


def _secret_key(value: str) -> str:
    if len(value) < _MIN_SECRET_KEY_LENGTH:
        raise argparse.ArgumentTypeError(
            f"the secret key needs at least {_MIN_SECRET_KEY_LENGTH} characters"
        )
    return value


def _custom_message(value: str) -> str:
    # The library's own rule, with its words (as the HTTP API's 422 says them).
    try:
        checked = check_custom_message(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value if checked is None else checked


def _secret_key_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as lines:
            first = lines.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc}") from exc
    try:
        return _secret_key(first)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{path}: {exc}") from exc


def _tenant_id(value: str) -> int:
    number = parse_host_id(value)
    if number is None:
        raise argparse.ArgumentTypeError(f"not a tenant id (a positive integer): {value!r}")
    return number


def _job_id(value: str) -> int:
    number = parse_host_id(value)
    if number is None:
        raise argparse.ArgumentTypeError(f"not a bulk job id (a positive integer): {value!r}")
    return number


# -- parser ------------------------------------------------------------------

_SECRET_KEY_HELP = (
    "key that signs portal tokens and seals stored secrets (16+ characters). "
    f"Default: ${SECRET_KEY_ENV}; without it, a random key generated on first use "
    "and stored in the database's host_settings table, so every process on one "
    "database, and every restart, shares it. That fallback is for the demo only: "
    "a key kept next to the data it protects lets a database dump unseal tokens, "
    "so a real deployment passes the key from its secret store"
)


def _add_database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        type=_database_url,
        default=DEFAULT_DATABASE_URL,
        metavar="URL",
        help="SQLite (sqlite:///FILE) or PostgreSQL (postgresql+psycopg://USER@HOST:PORT/DB); "
        "default: %(default)s. Missing tables are created",
    )
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--secret-key", type=_secret_key, metavar="KEY", help=_SECRET_KEY_HELP)
    key.add_argument(
        "--secret-key-file",
        type=_secret_key_file,
        metavar="PATH",
        dest="secret_key",
        help="read the secret key from this file (its first line) instead: unlike "
        "--secret-key, which any user can read in `ps`, a file can be kept private. "
        f"Outside a demo pass the key this way or in ${SECRET_KEY_ENV}",
    )


def build_parser(host: HostApp[Any]) -> argparse.ArgumentParser:
    """The ``argparse`` parser of one host's command line."""
    parser = argparse.ArgumentParser(
        prog=host.command,
        description=f"Client Portal demo host on {host.framework}: a small app with its own "
        "tenants, contacts and companies that embeds client-portal-core.",
        epilog="Exit status: 0 ok; 2 invalid options; 1 (uvicorn: 3) when the database or "
        "the port is unusable.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help=f"run the app on {host.server} (production server)",
        description=f"Run the app on {host.server}. Creates missing tables, answers "
        "GET /healthz, and mounts the Client Portal API.",
    )
    serve.add_argument("--port", type=_port, required=True, help="TCP port to listen on")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (%(default)s)")
    _add_database_options(serve)
    serve.add_argument(
        "--smtp-url",
        type=_smtp_url,
        metavar="URL",
        help="send invitations through smtp://HOST:PORT; default: an installed mailer "
        "plugin's, else print them to the console (with --demo: write them to the outbox "
        "folder). Settings also come from CLIENT_PORTAL_* variables, plugins' own from "
        "CLIENT_PORTAL_PLUGIN_<NAME>_<FIELD>",
    )
    serve.add_argument(
        "--outbox",
        metavar="DIR",
        help="write every email as .eml and .html files into DIR and print their paths; "
        "the default with --demo and no --smtp-url: outbox/ beside the SQLite file "
        "(demo-data/outbox for make demo)",
    )
    serve.add_argument(
        "--public-url",
        type=_http_url,
        metavar="URL",
        help="base URL of portal links; default http://HOST:PORT",
    )
    serve.add_argument(
        "--rate-limit", type=_rate_limit, metavar="RATE", help="per API token; default 60/minute"
    )
    serve.add_argument(
        "--invite-limit",
        type=_rate_limit,
        metavar="RATE",
        help="invitations per contact or company, e.g. 3/hour (more answer 429 naming the "
        "subject); default: no limit",
    )
    serve.add_argument(
        "--rate-limit-storage",
        type=_rate_limit_storage,
        metavar="URI",
        help="memory:// (default, this process) or redis://HOST:PORT (shared by all processes)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        type=_forwarded_allow_ips,
        metavar="IPS",
        help="trust X-Forwarded-For and X-Forwarded-Proto from these proxy addresses "
        "(comma-separated IPs or networks, or '*'), so the client address recorded for a "
        "portal visit is the proxy's client. Default: trust no one; the address is the "
        "connection's, which a client cannot choose",
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed an empty database with demo tenants, then print their API tokens and "
        "curl lines to try (an already seeded database gets new API tokens only)",
    )

    seed = commands.add_parser(
        "seed",
        help="add demo tenants and print them as JSON",
        description="Add two NEW demo tenants (each run adds more; API tokens are shown "
        "once, so seeding is additive rather than idempotent) and print one JSON document: "
        '{"tenants": [{"id", "api_token", "contacts": [{"id", "email"}], '
        '"companies": [{"id", "email"}]}]}.',
    )
    _add_database_options(seed)

    webhook = commands.add_parser(
        "add-webhook",
        help="subscribe a URL to a tenant's events",
        description='Subscribe a URL to a tenant\'s events; prints {"id": ..., "secret": '
        '"whsec_..."}. The demos allow URLs on loopback and private addresses.',
    )
    _add_database_options(webhook)
    webhook.add_argument("--tenant", type=_tenant_id, required=True, metavar="ID")
    webhook.add_argument("--url", type=_http_url, required=True, metavar="URL")
    webhook.add_argument(
        "--event",
        action="append",
        choices=ALL_EVENT_TYPES,
        metavar="NAME",
        help=f"repeat for several; default: all of {', '.join(ALL_EVENT_TYPES)}",
    )
    _add_invite_bulk(commands, host)
    add_portal_commands(commands, _add_database_options, _tenant_id)
    _add_management_commands(commands)
    return parser


def _within_days(value: str) -> int:
    if not (value.isascii() and value.isdecimal()) or not 1 <= int(value) <= 365:
        raise argparse.ArgumentTypeError(f"not a number of days (1-365): {value!r}")
    return int(value)


def _add_management_commands(commands: Any) -> None:
    token = commands.add_parser(
        "create-api-token",
        help="create an API token for a tenant, with scopes",
        description='Create an API token bound to a tenant; prints {"id", "token", "scopes"}. '
        "The token is shown this once (only its hash is stored).",
    )
    _add_database_options(token)
    token.add_argument("--tenant", type=_tenant_id, required=True, metavar="ID")
    token.add_argument("--name", default="cli", help="a label for the token (%(default)s)")
    token.add_argument(
        "--scope",
        action="append",
        choices=[scope.value for scope in Scope],
        help="repeat for several: read (every GET), invite (invitations, tokens, renewal), "
        "admin (configuration, webhooks); default: all three",
    )
    renew = commands.add_parser(
        "renew-expiring",
        help="mail new links to a tenant's subjects whose link expires soon (for cron)",
        description="For each subject of the tenant whose current portal link expires within "
        "--within-days days and was not renewed yet, mint a new link and mail a renewal "
        "invitation (the old link keeps working until it expires). Exactly once per link, "
        'even with two runs at once. Prints {"renewed": n, "failed": [{"type", "id", '
        '"error"}]}.',
        epilog="Exit status: 0 when nothing failed; 1 when a subject failed or the database "
        "is unusable; 2 invalid options.",
    )
    _add_database_options(renew)
    renew.add_argument("--tenant", type=_tenant_id, required=True, metavar="ID")
    renew.add_argument("--within-days", type=_within_days, required=True, metavar="N")
    renew.add_argument(
        "--smtp-url",
        type=_smtp_url,
        metavar="URL",
        help="send through smtp://HOST:PORT; default: print the emails on stderr",
    )
    renew.add_argument(
        "--public-url",
        type=_http_url,
        metavar="URL",
        help="base URL of the new links, as given to serve (default http://127.0.0.1:8000)",
    )


def _add_invite_bulk(commands: Any, host: HostApp[Any]) -> None:
    bulk = commands.add_parser(
        "invite-bulk",
        help="invite many of a tenant's contacts or companies, resumably",
        description="Invite many of a tenant's contacts or companies as one bulk job, over "
        "ONE mail connection. Progress goes to stderr, starting with the job id; at the end "
        'one JSON report goes to stdout: {"job_id", "total", "sent", "failed": [{"type", '
        '"id", "error"}], "unknown": [...]}. A subject without an email address, unknown '
        "to the directory or refused by the mail server is a failure in the report. After "
        "Ctrl-C (or a crash), --resume JOB_ID goes on with the job and never sends a "
        "subject twice.",
        epilog="Exit status: 0 when every subject of the job was sent; 1 when one failed "
        "(or its delivery is unknown), the database or mail server is unusable, or "
        "another run holds the job; 2 invalid options; 130 interrupted (the job can be "
        "resumed).",
    )
    _add_database_options(bulk)
    bulk.add_argument("--tenant", type=_tenant_id, required=True, metavar="ID")
    which = bulk.add_mutually_exclusive_group(required=True)
    which.add_argument("--all-contacts", action="store_true", help="every contact of the tenant")
    which.add_argument("--all-companies", action="store_true", help="every company of the tenant")
    which.add_argument(
        "--ids-file",
        metavar="FILE",
        help="the ids to invite, one per line; blank lines and # comments are ignored",
    )
    which.add_argument(
        "--resume",
        type=_job_id,
        metavar="JOB_ID",
        help="go on with an interrupted job (its subjects and message); "
        "what was sent is never sent again",
    )
    bulk.add_argument(
        "--type",
        choices=[kind.value for kind in SubjectType],
        help="what the ids of --ids-file are (default: contact)",
    )
    bulk.add_argument(
        "--smtp-url",
        type=_smtp_url,
        metavar="URL",
        help="send through smtp://HOST:PORT over one connection; default: an installed "
        "mailer plugin's, else print the emails to the console (on stderr, so stdout "
        "stays the JSON report)",
    )
    bulk.add_argument(
        "--public-url",
        type=_http_url,
        metavar="URL",
        help="base URL of the portal links in the emails, as given to serve; "
        "default: the library's (http://127.0.0.1:8000)",
    )
    bulk.add_argument(
        "--custom-message",
        type=_custom_message,
        metavar="TEXT",
        help="a note added to every email of a new job (plain text, at most 2000 "
        "characters, no control or bidirectional formatting characters)",
    )
    bulk.add_argument(
        "--locale",
        metavar="LANG",
        help="the language of every email of a new job and of its links' pages "
        "(en, de); default: the tenant's",
    )
    bulk.add_argument(
        "--resend-unknown",
        action="store_true",
        help="with --resume: also send the subjects whose email may or may not have left "
        "when the job stopped (at least once instead of at most once)",
    )
    bulk.add_argument(
        "--retry-failed",
        action="store_true",
        help="with --resume: also retry the subjects that failed",
    )
    bulk.add_argument(
        "--force",
        action="store_true",
        help="with --resume: take over a job whose last run was killed outright "
        "(without it, a job that made progress in the last 5 minutes is left alone)",
    )


# -- commands ----------------------------------------------------------------


def _one_line(message: str) -> str:
    # pydantic's multi-line report, minus its documentation links.
    lines = [line.strip() for line in message.splitlines()]
    return "; ".join(line for line in lines if line and not line.startswith("For further"))


def _open(args: argparse.Namespace, **options: Any) -> HostRuntime:
    from_env = os.environ.get(SECRET_KEY_ENV)
    if not args.secret_key and from_env and len(from_env) < _MIN_SECRET_KEY_LENGTH:
        raise CliError(
            f"${SECRET_KEY_ENV} needs at least {_MIN_SECRET_KEY_LENGTH} characters", code=2
        )
    try:
        return open_runtime(
            PortalOptions(database_url=args.database_url, secret_key=args.secret_key, **options)
        )
    except ConfigurationError as exc:
        raise CliError(_one_line(str(exc)), code=2) from exc
    except SQLAlchemyError as exc:
        where = sa.make_url(args.database_url).render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise CliError(f"cannot use the database {where}: {reason}") from exc


def _listen_url(host: str, port: int) -> str:
    # A wildcard address cannot be visited; links and curl lines use loopback.
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _serve(host: HostApp[Any], args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    listen_url = _listen_url(args.host, args.port)
    outbox = args.outbox
    if outbox is None and args.demo and args.smtp_url is None:
        outbox = demo_outbox_folder(args.database_url)
    runtime = _open(
        args,
        public_url=args.public_url or listen_url,
        smtp_url=args.smtp_url,
        rate_limit=args.rate_limit,
        rate_limit_storage=args.rate_limit_storage,
        mailer=None if outbox is None else outbox_mailer(Path(outbox)),
        invite_limit=args.invite_limit,
    )
    settings = runtime.portal.settings
    if args.demo:
        if has_tenants(runtime.engine):
            print("Database already seeded: keeping its data, issuing new demo API tokens.")
            document = describe_tenants(runtime.engine, runtime.portal)
        else:
            document = seed_demo_data(runtime.engine, runtime.portal)
        print("\n".join(demo_banner(document, listen_url, settings.api_prefix)))
    mail = _mail_description(runtime.portal)
    if outbox is not None:
        mail = f"written to {outbox}/ (.eml and .html files)"
    print(
        f"Client Portal demo host ({host.framework}, {host.server}) on {listen_url}; "
        f"portal links start with {settings.public_url}; mail: {mail}"
        f"{_store_description(runtime.portal)}"
    )
    # The server blocks from here on: whoever reads our output (a terminal,
    # a test) must see the lines above now, not when a buffer fills.
    sys.stdout.flush()
    app = host.create_app(runtime.portal)
    # The demo delivers webhooks from a thread of the server process; a
    # production host runs the library's separate worker command instead.
    runtime.portal.start_webhook_worker()
    try:
        host.serve(app, args.host, args.port, args.forwarded_allow_ips)
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc
    finally:
        runtime.portal.stop_webhook_worker()
    return 0


def _seed(args: argparse.Namespace) -> int:
    runtime = _open(args)
    print(json.dumps(seed_demo_data(runtime.engine, runtime.portal), indent=2))
    return 0


def _add_webhook(args: argparse.Namespace) -> int:
    runtime = _open(args)
    _require_tenant(runtime, args.tenant)
    events = list(args.event or ALL_EVENT_TYPES)
    try:
        endpoint = runtime.portal.add_webhook_endpoint(str(args.tenant), args.url, events)
    except (ValueError, PortalError, ConfigurationError) as exc:
        raise CliError(f"cannot add the webhook endpoint: {exc}", code=2) from exc
    print(json.dumps({"id": endpoint.id, "secret": endpoint.secret}))
    return 0


def _configure(args: argparse.Namespace) -> int:
    runtime = _open(args)
    _require_tenant(runtime, args.tenant)
    try:
        document = configure(runtime.portal, str(args.tenant), args)
    except ValueError as exc:
        raise CliError(f"invalid configuration: {exc}", code=2) from exc
    print(json.dumps(document))
    return 0


def _set_token_expiry(args: argparse.Namespace) -> int:
    runtime = _open(args)
    try:
        document = set_token_expiry(runtime.portal, args.token, args.expires_at)
    except LookupError as exc:
        raise CliError(str(exc)) from exc
    print(json.dumps(document))
    return 0


def _require_tenant(runtime: HostRuntime, tenant_id: int) -> None:
    with runtime.engine.connect() as conn:
        found = conn.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant_id)).first()
    if found is None:
        raise CliError(f"no tenant {tenant_id} in this database", code=2)


def _read_ids_file(path: str, kind: SubjectType) -> list[SubjectRef]:
    """``(kind, id)`` per line of ``path``; blank lines and ``#`` comments skipped."""
    try:
        with open(path, encoding="utf-8") as lines:
            ids = [line.split("#", 1)[0].strip() for line in lines]
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read --ids-file {path}: {exc}", code=2) from exc
    return [(kind, subject_id) for subject_id in ids if subject_id]


def _check_bulk_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.type is not None and args.ids_file is None:
        parser.error("--type applies to --ids-file only")
    if args.resume is None and (args.resend_unknown or args.retry_failed or args.force):
        parser.error("--resend-unknown, --retry-failed and --force apply to --resume only")
    if args.resume is not None and args.custom_message is not None:
        parser.error("--custom-message applies to a new job only (a resumed job keeps its own)")


def _resume_command(host: HostApp[Any], args: argparse.Namespace, job_id: int) -> str:
    # Printed on the terminal: passwords in URLs are masked ("***").
    words = [*shlex.split(host.command), "invite-bulk"]
    words += ["--database-url", _masked(args.database_url), "--tenant", str(args.tenant)]
    words += ["--resume", str(job_id)]
    for option in ("smtp_url", "public_url"):
        value = getattr(args, option)
        if value is not None:
            words += ["--" + option.replace("_", "-"), _masked(value)]
    return shlex.join(words)


def _provider_plugin(portal: ClientPortal, hook: str) -> tuple[str, str]:
    """``(what, from where)`` of a provider hook's pick, as the portal's report has it."""
    choice = portal.plugin_report.choice(hook)
    plugin = next((p for p in portal.plugin_report.plugins if p.name == choice.chosen), None)
    dist = f", {plugin.distribution} {plugin.version}" if plugin and plugin.distribution else ""
    return str(choice.provides), f"plugin {choice.chosen}{dist}"


def _mail_description(portal: ClientPortal) -> str:
    """What really sends the invitations: SMTP, the console, or a plugin's mailer."""
    choice = portal.plugin_report.choice("client_portal_mailer")
    if choice.chosen == "client_portal_core":
        smtp_url = portal.settings.smtp_url
        return "console" if smtp_url is None else _mail_server(smtp_url)
    what, source = _provider_plugin(portal, "client_portal_mailer")
    return f"{what} from {source}"


def _uses_console_fallback(portal: ClientPortal) -> bool:
    choice = portal.plugin_report.choice("client_portal_mailer")
    return choice.chosen == "client_portal_core" and portal.settings.smtp_url is None


def _store_description(portal: ClientPortal) -> str:
    """``; token store: X from plugin Y`` when a plugin replaced the SQL store, else nothing."""
    if portal.plugin_report.choice("client_portal_token_store").chosen == "client_portal_core":
        return ""
    what, source = _provider_plugin(portal, "client_portal_token_store")
    return f"; token store: {what} from {source}"


def _mail_server(smtp_url: str) -> str:
    """``host:port`` of an SMTP URL, for banners (no credentials)."""
    parts = urlsplit(smtp_url)
    return f"{parts.hostname}:{parts.port or (465 if parts.scheme == 'smtps' else 25)}"


def _masked(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _show_progress(step: BulkProgress) -> None:
    item = step.item
    outcome = item.status if item.error is None else f"{item.status}: {item.error}"
    print(
        f"[{step.done}/{step.total}] {item.subject_type} {item.subject_id} {outcome}",
        file=sys.stderr,
        flush=True,
    )


def _bulk_document(report: BulkReport) -> dict[str, Any]:
    def listed(items: list[BulkItem]) -> list[dict[str, Any]]:
        return [
            {"type": item.subject_type, "id": item.subject_id, "error": item.error}
            for item in items
        ]

    return {
        "job_id": report.job_id,
        "total": report.total,
        "sent": report.sent,
        "failed": listed(report.failures),
        "unknown": listed(report.unknown),
    }


def _invite_bulk(host: HostApp[Any], args: argparse.Namespace) -> int:
    runtime = _open(args, smtp_url=args.smtp_url, public_url=args.public_url)
    portal, tenant = runtime.portal, str(args.tenant)
    console = _uses_console_fallback(portal)
    if console:
        # Console mail goes to stderr: stdout is reserved for the JSON report.
        # A mailer plugin, or --smtp-url, is used as it is.
        portal.mailer = ConsoleMailer(sys.stderr)
    _require_tenant(runtime, args.tenant)
    inviter = portal.bulk
    if args.resume is not None:
        job_id = args.resume
        try:
            total = inviter.report(tenant, job_id).total
        except NotFound as exc:
            raise CliError(f"no bulk job {job_id} for tenant {tenant}", code=2) from exc
        print(f"Resuming bulk job {job_id} ({total} subjects).", file=sys.stderr)
    else:
        if args.ids_file is not None:
            subjects = _read_ids_file(args.ids_file, SubjectType(args.type or "contact"))
        else:
            kind = SubjectType.CONTACT if args.all_contacts else SubjectType.COMPANY
            subjects = inviter.directory_subjects(tenant, kind)
        try:
            job_id = inviter.create_job(tenant, subjects, args.custom_message, args.locale)
        except ValueError as exc:
            raise CliError(str(exc), code=2) from exc
        except ValidationFailed as exc:
            raise CliError("--locale: " + "; ".join(exc.errors["locale"]), code=2) from exc
        total = inviter.report(tenant, job_id).total
        print(f"Bulk job {job_id}: {total} subjects of tenant {tenant}.", file=sys.stderr)
    mail = "console (stderr)" if console else _mail_description(portal)
    links = portal.settings.public_url
    hint = "" if args.public_url else " (pass --public-url as given to serve)"
    print(
        f"Mail: {mail}. Links start with {links}{hint}. If interrupted, resume with: "
        f"{_resume_command(host, args, job_id)}",
        file=sys.stderr,
        flush=True,
    )
    try:
        report = portal.resume_invite_many(
            tenant,
            job_id,
            progress=_show_progress,
            resend_unknown=args.resend_unknown,
            retry_failed=args.retry_failed,
            force=args.force,
        )
    except BulkJobBusy as exc:
        # Another run holds the job (or took it over from this one): a run-time state.
        raise CliError(exc.message.replace("force=True", "--force")) from exc
    except SQLAlchemyError as exc:
        raise CliError(
            f"database error during the run ({type(exc).__name__}); nothing sent is sent "
            f"again. Resume with: {_resume_command(host, args, job_id)}"
        ) from exc
    except KeyboardInterrupt:
        print(
            f"\nInterrupted: bulk job {job_id} stopped; nothing sent is sent again. "
            f"Resume with:\n  {_resume_command(host, args, job_id)}",
            file=sys.stderr,
        )
        return 130
    except MailDeliveryError as exc:
        raise CliError(
            f"cannot use the mail server: {exc.reason}; the run stopped and nothing sent "
            f"is sent again. Resume with: {_resume_command(host, args, job_id)}"
        ) from exc
    print(json.dumps(_bulk_document(report)))
    _print_summary(report, _resume_command(host, args, job_id))
    return 0 if report.ok else 1


def _print_summary(report: BulkReport, resume: str) -> None:
    failed, unknown = len(report.failures), len(report.unknown)
    print(
        f"Bulk job {report.job_id}: {report.sent} of {report.total} sent, {failed} failed, "
        f"{unknown} unknown, {report.pending} still to send.",
        file=sys.stderr,
    )
    if report.pending:
        print(f"To send the rest: {resume}", file=sys.stderr)
    if unknown:
        print(
            f"{unknown} may or may not have been delivered when an earlier run stopped; "
            f"to send them again: {resume} --resend-unknown",
            file=sys.stderr,
        )
    if failed:
        print(f"To retry the failures: {resume} --retry-failed", file=sys.stderr)


def _create_api_token(args: argparse.Namespace) -> int:
    runtime = _open(args)
    _require_tenant(runtime, args.tenant)
    issued = runtime.portal.create_api_token(str(args.tenant), args.name, args.scope)
    print(json.dumps({"id": issued.id, "token": issued.token, "scopes": list(issued.scopes)}))
    return 0


def _renew_expiring(args: argparse.Namespace) -> int:
    # Console mail goes to stderr: stdout is reserved for the JSON report.
    runtime = _open(
        args,
        smtp_url=args.smtp_url,
        public_url=args.public_url,
        mailer=ConsoleMailer(sys.stderr) if args.smtp_url is None else None,
    )
    _require_tenant(runtime, args.tenant)
    try:
        report = runtime.portal.renew_expiring_tokens(args.within_days, str(args.tenant))
    except SQLAlchemyError as exc:
        raise CliError(
            f"database error during the run ({type(exc).__name__}); a link already "
            "renewed is never renewed again, run it again to go on"
        ) from exc
    failed = [
        {"type": item.subject_type, "id": item.subject_id, "error": item.error}
        for item in report.failed
    ]
    print(json.dumps({"renewed": report.renewed, "failed": failed}))
    return 1 if failed else 0


#: Options whose value may start with "-" (portal tokens are URL-safe base64).
_DASH_VALUES = ("--token",)


def _glue_dash_values(argv: Sequence[str]) -> list[str]:
    """``--token -abc`` as ``--token=-abc``: argparse would read a value that
    starts with "-" as an option, and one in 64 portal tokens does."""
    words = list(argv)
    glued: list[str] = []
    while words:
        word = words.pop(0)
        if word in _DASH_VALUES and words and words[0].startswith("-") and words[0] != "--":
            word = f"{word}={words.pop(0)}"
        glued.append(word)
    return glued


def main(host: HostApp[Any], argv: Sequence[str] | None = None) -> int:
    """Run one command of ``host``'s command line and return the exit status."""
    parser = build_parser(host)
    args = parser.parse_args(_glue_dash_values(sys.argv[1:] if argv is None else argv))
    if args.command == "invite-bulk":
        _check_bulk_options(parser, args)
    try:
        if args.command == "serve":
            return _serve(host, args)
        if args.command == "seed":
            return _seed(args)
        if args.command == "invite-bulk":
            return _invite_bulk(host, args)
        if args.command == "configure":
            return _configure(args)
        if args.command == "set-token-expiry":
            return _set_token_expiry(args)
        if args.command == "create-api-token":
            return _create_api_token(args)
        if args.command == "renew-expiring":
            return _renew_expiring(args)
        return _add_webhook(args)
    except CliError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): nothing left to tell it. Point
        # stdout at devnull so the interpreter's final flush stays quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
