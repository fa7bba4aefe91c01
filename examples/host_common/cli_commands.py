"""The example hosts' small commands, and what every command shares: opening the
database and the portal, checking the tenant, describing the mail set-up."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from client_portal_core import (
    ALL_EVENT_TYPES,
    ClientPortal,
    ConfigurationError,
    ConsoleMailer,
    PortalError,
)

from .cli_base import CliError
from .cli_options import MIN_SECRET_KEY_LENGTH
from .cli_portal import configure, set_token_expiry
from .db import tenants
from .runtime import SECRET_KEY_ENV, HostRuntime, PortalOptions, open_runtime
from .seed import seed_demo_data

__all__ = [
    "mail_description",
    "masked",
    "open_host",
    "require_tenant",
    "run_add_webhook",
    "run_configure",
    "run_create_api_token",
    "run_renew_expiring",
    "run_seed",
    "run_set_token_expiry",
    "store_description",
    "uses_console_fallback",
]


def open_host(args: argparse.Namespace, **options: Any) -> HostRuntime:
    """The runtime for a command's ``--database-url`` and key.

    A bad setting or an unusable database raises the library's own error,
    which the command line turns into one line naming the option.
    """
    from_env = os.environ.get(SECRET_KEY_ENV)
    if not args.secret_key and from_env and len(from_env) < MIN_SECRET_KEY_LENGTH:
        raise CliError(
            f"${SECRET_KEY_ENV} needs at least {MIN_SECRET_KEY_LENGTH} characters", code=2
        )
    return open_runtime(
        PortalOptions(database_url=args.database_url, secret_key=args.secret_key, **options)
    )


def run_seed(args: argparse.Namespace) -> int:
    """``seed``: add demo tenants and print them as JSON."""
    runtime = open_host(args)
    print(json.dumps(seed_demo_data(runtime.engine, runtime.portal), indent=2))
    return 0


def run_add_webhook(args: argparse.Namespace) -> int:
    """``add-webhook``: subscribe a URL and print its id and secret."""
    runtime = open_host(args)
    require_tenant(runtime, args.tenant)
    events = list(args.event or ALL_EVENT_TYPES)
    try:
        endpoint = runtime.portal.add_webhook_endpoint(str(args.tenant), args.url, events)
    except (ValueError, PortalError, ConfigurationError) as exc:
        raise CliError(f"cannot add the webhook endpoint: {exc}", code=2) from exc
    print(json.dumps({"id": endpoint.id, "secret": endpoint.secret}))
    return 0


def run_configure(args: argparse.Namespace) -> int:
    """``configure``: change a tenant's configuration and print all of it."""
    runtime = open_host(args)
    require_tenant(runtime, args.tenant)
    try:
        document = configure(runtime.portal, str(args.tenant), args)
    except ValueError as exc:
        raise CliError(f"invalid configuration: {exc}", code=2) from exc
    print(json.dumps(document))
    return 0


def run_set_token_expiry(args: argparse.Namespace) -> int:
    """``set-token-expiry``: move one portal link's expiry."""
    runtime = open_host(args)
    try:
        document = set_token_expiry(runtime.portal, args.token, args.expires_at)
    except LookupError as exc:
        raise CliError(str(exc)) from exc
    print(json.dumps(document))
    return 0


def require_tenant(runtime: HostRuntime, tenant_id: int) -> None:
    """Raise :class:`CliError` (status 2) unless the tenant exists."""
    with runtime.engine.connect() as conn:
        found = conn.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant_id)).first()
    if found is None:
        raise CliError(f"no tenant {tenant_id} in this database", code=2)


def run_create_api_token(args: argparse.Namespace) -> int:
    """``create-api-token``: print a new API token with its scopes."""
    runtime = open_host(args)
    require_tenant(runtime, args.tenant)
    issued = runtime.portal.create_api_token(str(args.tenant), args.name, args.scope)
    print(json.dumps({"id": issued.id, "token": issued.token, "scopes": list(issued.scopes)}))
    return 0


def run_renew_expiring(args: argparse.Namespace) -> int:
    """``renew-expiring``: mail new links for the tenant's expiring ones."""
    # Console mail goes to stderr: stdout is reserved for the JSON report.
    runtime = open_host(
        args,
        smtp_url=args.smtp_url,
        public_url=args.public_url,
        mailer=ConsoleMailer(sys.stderr) if args.smtp_url is None else None,
    )
    require_tenant(runtime, args.tenant)
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


def _provider_plugin(portal: ClientPortal, hook: str) -> tuple[str, str]:
    """``(what, from where)`` of a provider hook's pick, as the portal's report has it."""
    choice = portal.plugin_report.choice(hook)
    plugin = next((p for p in portal.plugin_report.plugins if p.name == choice.chosen), None)
    dist = f", {plugin.distribution} {plugin.version}" if plugin and plugin.distribution else ""
    return str(choice.provides), f"plugin {choice.chosen}{dist}"


def mail_description(portal: ClientPortal) -> str:
    """What really sends the invitations: SMTP, the console, or a plugin's mailer."""
    choice = portal.plugin_report.choice("client_portal_mailer")
    if choice.chosen == "client_portal_core":
        smtp_url = portal.settings.smtp_url
        return "console" if smtp_url is None else _mail_server(smtp_url)
    what, source = _provider_plugin(portal, "client_portal_mailer")
    return f"{what} from {source}"


def uses_console_fallback(portal: ClientPortal) -> bool:
    """Whether invitations would go to the console (no SMTP, no mailer plugin)."""
    choice = portal.plugin_report.choice("client_portal_mailer")
    return choice.chosen == "client_portal_core" and portal.settings.smtp_url is None


def store_description(portal: ClientPortal) -> str:
    """``; token store: X from plugin Y`` when a plugin replaced the SQL store, else nothing."""
    if portal.plugin_report.choice("client_portal_token_store").chosen == "client_portal_core":
        return ""
    what, source = _provider_plugin(portal, "client_portal_token_store")
    return f"; token store: {what} from {source}"


def _mail_server(smtp_url: str) -> str:
    """``host:port`` of an SMTP URL, for banners (no credentials)."""
    parts = urlsplit(smtp_url)
    return f"{parts.hostname}:{parts.port or (465 if parts.scheme == 'smtps' else 25)}"


def masked(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
