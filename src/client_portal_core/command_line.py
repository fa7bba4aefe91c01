"""What every command line on the library shares (``client-portal`` and a host's own).

A usage or environment mistake is answered with ONE line on stderr that
names the option to change, never a traceback: exit status 2 for usage
(an invalid option or setting), 1 for the environment (a database that
cannot be opened, a driver that is not installed, a port in use).
:func:`run_command` runs a command and turns the exceptions the library
raises for such mistakes into that line (:func:`explain_error`);
:class:`OneLineArgumentParser` does the same for argparse's own errors.
"""

from __future__ import annotations

import argparse
import errno
import logging
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, NoReturn, TextIO

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from .errors import ConfigurationError
from .settings import ENV_PREFIX
from .webhooks import InvalidWebhookEndpoint, InvalidWebhookEvents, UnsafeWebhookUrl

__all__ = [
    "ENVIRONMENT",
    "USAGE",
    "CommandError",
    "CommandOptions",
    "OneLineArgumentParser",
    "check_port_free",
    "configure_logging",
    "explain_error",
    "run_command",
]

logger = logging.getLogger("client_portal_core.command_line")

#: Exit status of a usage mistake: an invalid option, setting or combination.
USAGE: Final = 2
#: Exit status of an environment mistake: database, driver, port, files.
ENVIRONMENT: Final = 1


class CommandError(Exception):
    """A failure a command reports as one line on stderr with exit status :attr:`code`."""

    def __init__(self, message: str, code: int = ENVIRONMENT) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class CommandOptions:
    """How one command line spells what the library's messages call settings.

    :param database_url: the option that gives the database URL.
    :param secret_key: the options (and variable) that give the secret key.
    :param allow_private_urls: the option that lifts the webhook SSRF guard,
        or ``None`` when the command has none.
    :param fields: further settings' fields to their options, e.g.
        ``{"rate_limit": "--rate-limit"}``; a field not listed is named by its
        ``CLIENT_PORTAL_*`` variable.
    """

    database_url: str = "--database-url"
    secret_key: str = f"--secret-key (or --secret-key-file, or ${ENV_PREFIX}SECRET_KEY)"
    allow_private_urls: str | None = "--allow-private-urls"
    fields: Mapping[str, str] = field(default_factory=dict)

    def option_for(self, setting: str) -> str:
        """The option (or variable) a user changes to fix the setting ``setting``."""
        if setting == "database_url":
            return self.database_url
        if setting in ("secret_keys", "secret_key"):
            return self.secret_key
        if setting == "webhook_allow_private_urls" and self.allow_private_urls:
            return self.allow_private_urls
        top = setting.split(".", 1)[0]
        return self.fields.get(top) or f"${ENV_PREFIX}{top.upper()}"


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (``PROG: error: ...``), status 2.

    argparse's own error prints the usage first (several lines); the line
    names the option, and ``--help`` shows the usage.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line on stderr and exit with status 2."""
        self.exit(USAGE, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def _one_line(text: str) -> str:
    """A multi-line message (pydantic's, a plugin's) as one line, minus documentation links."""
    lines = [line.strip() for line in text.strip().splitlines()]
    kept = [line for line in lines if line and not line.startswith(("For further", "(Background"))]
    return "; ".join(kept) or text.strip()


def _masked_url(url: str | None) -> str:
    if not url:
        return "the database"
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "the database"


def _configuration(exc: ConfigurationError, options: CommandOptions) -> CommandError:
    code = ENVIRONMENT if isinstance(exc.__cause__, ImportError) else USAGE
    if not exc.problems:
        return CommandError(_one_line(str(exc)), code)
    parts = []
    for setting, problem in exc.problems.items():
        if setting == "secret_keys" and problem == "Field required":
            parts.append(f"no secret key: pass {options.secret_key}")
        else:
            parts.append(f"{options.option_for(setting)}: {problem}")
    return CommandError("; ".join(parts), code)


def explain_error(
    exc: BaseException, options: CommandOptions, *, database_url: str | None = None
) -> CommandError | None:
    """The one line (and exit status) for a usage or environment mistake, else ``None``.

    :param database_url: the URL the command used, named (password masked)
        when the database cannot be used.
    """
    if isinstance(exc, CommandError):
        return exc
    if isinstance(exc, ConfigurationError):
        return _configuration(exc, options)
    if isinstance(exc, UnsafeWebhookUrl):
        logger.debug("webhook URL refused (SSRF guard): %s", exc.detail)
        if options.allow_private_urls is None:
            return CommandError(f"--url: {exc.refusal}", USAGE)
        remedy = f"pass {options.allow_private_urls} only for local development"
        return CommandError(f"--url: {exc.with_remedy(remedy)}", USAGE)
    if isinstance(exc, InvalidWebhookEndpoint):
        option = "--event" if isinstance(exc, InvalidWebhookEvents) else "--url"
        return CommandError(f"{option}: {exc}", USAGE)
    if isinstance(exc, SQLAlchemyError):
        # The driver's own words (its first line): not SQLAlchemy's wrapping of them.
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        where = _masked_url(database_url)
        return CommandError(f"{options.database_url}: cannot use {where}: {reason}", ENVIRONMENT)
    return None


def run_command(
    call: Callable[[], int],
    options: CommandOptions,
    *,
    prefix: str = "error: ",
    database_url: Callable[[], str | None] = lambda: None,
    stderr: TextIO | None = None,
) -> int:
    """Run ``call`` and return its exit status; a mistake :func:`explain_error`
    knows is printed as ``{prefix}{line}`` and answered with its status.

    Anything else (a bug) propagates with its traceback.

    :param database_url: gives the database URL the command used, for the message.
    """
    try:
        return call()
    except Exception as exc:
        explained = explain_error(exc, options, database_url=database_url())
        if explained is None:
            raise
        (stderr or sys.stderr).write(f"{prefix}{explained}\n")
        return explained.code


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`CommandError` (naming ``--port`` or ``--host``) unless
    ``host:port`` can be listened on now.

    Call it before anything is created or printed: a server that cannot bind
    must not have minted API tokens or printed curl lines first. (The port
    may still be taken between this check and the server's bind; the server's
    own error then says so.)
    """
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise CommandError(f"--host: cannot resolve {host!r}: {exc}") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As the servers do: a port left in TIME_WAIT is free, one listened on is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if exc.errno == errno.EADDRNOTAVAIL:
                raise CommandError(f"--host: cannot listen on {host}: {reason}") from exc
            raise CommandError(f"--port: cannot listen on {host}:{port}: {reason}") from exc


def configure_logging(level: str | int = logging.INFO, *, fmt: str | None = None) -> None:
    """Log to stderr at ``level``, with Alembic's narration (every plugin and
    migration context, at INFO) quieted to its warnings unless ``level`` is DEBUG.

    Only the ``alembic`` logger is changed, never the root's level for others.

    :raises CommandError: ``level`` is no logging level (names ``--log-level``).
    """
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise CommandError(f"--log-level: not a logging level: {level!r}", USAGE)
    logging.basicConfig(
        level=numeric, format=fmt or "%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if numeric > logging.DEBUG:
        logging.getLogger("alembic").setLevel(logging.WARNING)
