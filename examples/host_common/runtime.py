"""Wiring: one engine shared by the host and the library, the secret key, the portal."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from client_portal_core import ClientPortal, Mailer, Settings

from .content import HostContent
from .db import create_host_schema, open_engine, stored_secret_key
from .directory import HostDirectory

__all__ = [
    "DEFAULT_DATABASE_URL",
    "SECRET_KEY_ENV",
    "HostRuntime",
    "PortalOptions",
    "check_key_in_use",
    "open_runtime",
    "resolve_secret_key",
]

#: Where the demos keep their data unless told otherwise (relative to the working directory).
DEFAULT_DATABASE_URL = "sqlite:///client_portal_demo.db"
#: Environment variable read when ``--secret-key`` is not given.
SECRET_KEY_ENV = "CLIENT_PORTAL_SECRET_KEY"


@dataclass(frozen=True, slots=True)
class PortalOptions:
    """What the command line decides about the portal (``None``: library default)."""

    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str | None = None
    public_url: str | None = None
    smtp_url: str | None = None
    rate_limit: str | None = None
    rate_limit_storage: str | None = None
    invite_limit: str | None = None
    #: Replaces the mailer chosen from the settings (SMTP or console).
    mailer: Mailer | None = None


@dataclass(frozen=True, slots=True)
class HostRuntime:
    """The host's database engine and the portal built on it."""

    engine: Engine
    portal: ClientPortal


def resolve_secret_key(explicit: str | None, engine: Engine) -> str:
    """``explicit``, else ``$CLIENT_PORTAL_SECRET_KEY``, else the key stored in the database.

    The last is a demo convenience and says so on stderr: a key kept beside
    the data it protects lets a copy of the database open every portal link.
    """
    chosen = explicit or os.environ.get(SECRET_KEY_ENV)
    if chosen:
        return chosen
    print(
        f"warning: no --secret-key and no ${SECRET_KEY_ENV}: using a demo key kept in the "
        "database itself, so a copy of the database opens every portal link. Pass "
        "--secret-key (or set the variable) anywhere but a local demo.",
        file=sys.stderr,
    )
    return stored_secret_key(engine)


def _demo_only_settings() -> dict[str, Any]:
    """Settings these local demos need and a production host must not copy."""
    # The demos deliver webhooks to receivers on this machine (127.0.0.1),
    # which the library refuses by default as an SSRF guard. The guard is
    # only lifted here, for the examples.
    return {"webhook_allow_private_urls": True}


def open_runtime(options: PortalOptions) -> HostRuntime:
    """Create missing tables (host's and library's) and build the portal.

    :raises client_portal_core.ConfigurationError: a setting is invalid.
    :raises sqlalchemy.exc.SQLAlchemyError: the database is unusable.
    """
    engine = open_engine(options.database_url)
    create_host_schema(engine)
    chosen = {
        "public_url": options.public_url,
        "smtp_url": options.smtp_url,
        "rate_limit": options.rate_limit,
        "rate_limit_storage": options.rate_limit_storage,
        "invite_limit": options.invite_limit,
    }
    fell_back = not (options.secret_key or os.environ.get(SECRET_KEY_ENV))
    # From the environment first (CLIENT_PORTAL_*, plugins' CLIENT_PORTAL_PLUGIN_*
    # included), so an installed plugin is configured without a change here;
    # the command line's options win.
    settings = Settings.from_env(
        secret_key=resolve_secret_key(options.secret_key, engine),
        database_url=options.database_url,
        **{name: value for name, value in chosen.items() if value is not None},
        **_demo_only_settings(),
    )
    # Sharing the engine gives host and library one connection pool and the
    # library's SQLite tuning (WAL, busy timeout) for the host's queries too.
    plugins = [HostDirectory(engine), HostContent(engine, settings.portal_path)]
    portal = ClientPortal(settings, plugins=plugins, engine=engine, mailer=options.mailer)
    portal.create_schema()
    check_key_in_use(portal, fell_back=fell_back)
    return HostRuntime(engine=engine, portal=portal)


def check_key_in_use(portal: ClientPortal, *, fell_back: bool) -> None:
    """Record the signing key's fingerprint, or warn when the demo key is not this database's.

    A key given explicitly is recorded (an HMAC of a constant, never the key).
    A command that fell back to the demo key stored in the database, on a
    database that processes use with another key (``serve --secret-key``),
    would seal webhook secrets and sign links that those processes cannot
    open: it says so on stderr (and their worker fails such deliveries loudly).
    """
    key = portal.settings.key_bytes()[-1]
    if not fell_back:
        portal.key_fingerprints.record(key)
    elif portal.key_fingerprints.is_foreign(key):
        print(
            f"warning: no --secret-key and no ${SECRET_KEY_ENV}, so this command uses the demo "
            "key stored in the database, but the database is in use with another key (a "
            "serve or worker given --secret-key): what this command seals or signs will not "
            "open there (webhook endpoints added now never receive anything). Pass the same "
            "key as serve.",
            file=sys.stderr,
        )
