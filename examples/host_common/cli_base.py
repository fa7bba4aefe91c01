"""What the example hosts' command-line modules share: the host's plug-in point and the error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from client_portal_core import ClientPortal
from client_portal_core.command_line import CommandError, CommandOptions

__all__ = ["HOST_OPTIONS", "CliError", "HostApp"]

AppT = TypeVar("AppT")


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


class CliError(CommandError):
    """A failure reported as one line on stderr with exit status :attr:`code`
    (1 by default: the environment; 2: usage)."""


#: How the example hosts spell the settings in messages (see
#: :func:`client_portal_core.command_line.explain_error`). They always allow
#: webhook URLs on private addresses (local demos), so they have no option for it.
HOST_OPTIONS = CommandOptions(
    allow_private_urls=None,
    fields={
        "public_url": "--public-url",
        "smtp_url": "--smtp-url",
        "rate_limit": "--rate-limit",
        "rate_limit_storage": "--rate-limit-storage",
        "invite_limit": "--invite-limit",
    },
)
