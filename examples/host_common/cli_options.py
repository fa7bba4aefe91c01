"""The option types of the example hosts' command line, and the database options.

Each type raises ``ArgumentTypeError``, which argparse turns into
"error: argument --x: ..." and exit status 2.
"""

from __future__ import annotations

import argparse
import ipaddress
from urllib.parse import urlsplit

import sqlalchemy as sa
from limits import parse as parse_rate_limit
from sqlalchemy.exc import SQLAlchemyError

from client_portal_core.validation import check_custom_message

from .directory import parse_host_id
from .runtime import DEFAULT_DATABASE_URL, SECRET_KEY_ENV

__all__ = [
    "MIN_SECRET_KEY_LENGTH",
    "add_database_options",
    "custom_message",
    "database_url",
    "forwarded_allow_ips",
    "http_url",
    "job_id",
    "rate_limit",
    "rate_limit_storage",
    "secret_key",
    "secret_key_file",
    "smtp_url",
    "tcp_port",
    "tenant_id",
    "within_days",
]

_SUPPORTED_DATABASES = ("sqlite", "postgresql")
_SUPPORTED_RATE_LIMIT_STORAGE = ("memory", "redis", "rediss")
MIN_SECRET_KEY_LENGTH = 16


def tcp_port(value: str) -> int:
    """``--port``: a TCP port, 1-65535."""
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port (1-65535): {value!r}")
    return int(value)


def database_url(value: str) -> str:
    """``--database-url``: a SQLite or PostgreSQL URL (plain ``postgresql://`` means psycopg 3)."""
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


def _url(value: str, schemes: tuple[str, ...], expected: str) -> str:
    """``value`` if it is a URL with a host and one of ``schemes``."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a valid URL: {value!r} ({exc})") from exc
    if parts.scheme not in schemes or not parts.hostname:
        raise argparse.ArgumentTypeError(f"not {expected}: {value!r}")
    return value


def http_url(value: str) -> str:
    """An ``http://`` or ``https://`` URL with a host."""
    return _url(value, ("http", "https"), "an http:// or https:// URL")


def smtp_url(value: str) -> str:
    """An ``smtp://`` or ``smtps://`` URL with a host."""
    return _url(value, ("smtp", "smtps"), "an smtp://host:port or smtps:// URL")


def rate_limit(value: str) -> str:
    """A rate limit in ``limits`` notation, e.g. ``60/minute``."""
    try:
        parse_rate_limit(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"not a rate limit like '60/minute' or '1000/hour': {value!r}"
        ) from exc
    return value


def rate_limit_storage(value: str) -> str:
    """``memory://`` or a ``redis://`` URI."""
    scheme, separator, _ = value.partition("://")
    if not separator or scheme not in _SUPPORTED_RATE_LIMIT_STORAGE:
        raise argparse.ArgumentTypeError(
            f"not a rate limit storage URI (memory:// or redis://HOST:PORT): {value!r}"
        )
    return value


def forwarded_allow_ips(value: str) -> str:
    """``--forwarded-allow-ips``: addresses and networks, comma-separated, or ``*``."""
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


def secret_key(value: str) -> str:
    """A secret key of at least :data:`MIN_SECRET_KEY_LENGTH` characters."""
    if len(value) < MIN_SECRET_KEY_LENGTH:
        raise argparse.ArgumentTypeError(
            f"the secret key needs at least {MIN_SECRET_KEY_LENGTH} characters"
        )
    return value


def custom_message(value: str) -> str:
    """``--custom-message``, checked by the library's own rule."""
    # The library's own rule, with its words (as the HTTP API's 422 says them).
    try:
        checked = check_custom_message(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value if checked is None else checked


def secret_key_file(path: str) -> str:
    """``--secret-key-file``: the key on the file's first line."""
    try:
        with open(path, encoding="utf-8") as lines:
            first = lines.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc}") from exc
    try:
        return secret_key(first)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{path}: {exc}") from exc


def tenant_id(value: str) -> int:
    """A tenant id (a positive integer)."""
    number = parse_host_id(value)
    if number is None:
        raise argparse.ArgumentTypeError(f"not a tenant id (a positive integer): {value!r}")
    return number


def job_id(value: str) -> int:
    """A bulk job id (a positive integer)."""
    number = parse_host_id(value)
    if number is None:
        raise argparse.ArgumentTypeError(f"not a bulk job id (a positive integer): {value!r}")
    return number


def within_days(value: str) -> int:
    """``--within-days``: 1 to 365."""
    if not (value.isascii() and value.isdecimal()) or not 1 <= int(value) <= 365:
        raise argparse.ArgumentTypeError(f"not a number of days (1-365): {value!r}")
    return int(value)


_SECRET_KEY_HELP = (
    "key that signs portal tokens and seals stored secrets (16+ characters). "
    f"Default: ${SECRET_KEY_ENV}; without it, a random key generated on first use "
    "and stored in the database's host_settings table, so every process on one "
    "database, and every restart, shares it. That fallback is for the demo only: "
    "a key kept next to the data it protects lets a database dump unseal tokens, "
    "so a real deployment passes the key from its secret store"
)


def add_database_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--database-url`` and ``--secret-key`` / ``--secret-key-file`` to a command."""
    parser.add_argument(
        "--database-url",
        type=database_url,
        default=DEFAULT_DATABASE_URL,
        metavar="URL",
        help="SQLite (sqlite:///FILE) or PostgreSQL (postgresql+psycopg://USER@HOST:PORT/DB); "
        "default: %(default)s. Missing tables are created",
    )
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--secret-key", type=secret_key, metavar="KEY", help=_SECRET_KEY_HELP)
    key.add_argument(
        "--secret-key-file",
        type=secret_key_file,
        metavar="PATH",
        dest="secret_key",
        help="read the secret key from this file (its first line) instead: unlike "
        "--secret-key, which any user can read in `ps`, a file can be kept private. "
        f"Outside a demo pass the key this way or in ${SECRET_KEY_ENV}",
    )
