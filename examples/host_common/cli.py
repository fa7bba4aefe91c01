"""The command line shared by both example hosts: ``serve``, ``seed``, ``add-webhook``,
``invite-bulk``, ``configure``, ``set-token-expiry``, ``create-api-token`` and
``renew-expiring``.

Exit status: 0 on success, 1 when something fails at run time (database or
port unusable; for ``invite-bulk``, a subject not sent), 2 for invalid
options or an unsupported command, 130 when interrupted. Errors are one line
on stderr, never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from client_portal_core.command_line import run_command

from .cli_base import HOST_OPTIONS, CliError, HostApp
from .cli_bulk import check_bulk_options, run_invite_bulk
from .cli_commands import (
    run_add_webhook,
    run_configure,
    run_create_api_token,
    run_renew_expiring,
    run_seed,
    run_set_token_expiry,
)
from .cli_parser import build_parser
from .cli_serve import run_serve

__all__ = ["CliError", "HostApp", "build_parser", "main"]


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
        check_bulk_options(parser, args)
    commands: dict[str, Callable[[], int]] = {
        "serve": lambda: run_serve(host, args),
        "seed": lambda: run_seed(args),
        "invite-bulk": lambda: run_invite_bulk(host, args),
        "configure": lambda: run_configure(args),
        "set-token-expiry": lambda: run_set_token_expiry(args),
        "create-api-token": lambda: run_create_api_token(args),
        "renew-expiring": lambda: run_renew_expiring(args),
        "add-webhook": lambda: run_add_webhook(args),
    }
    try:
        # The library's translation of usage and environment mistakes into one
        # line naming the option (shared with its own ``client-portal``).
        return run_command(
            commands[args.command],
            HOST_OPTIONS,
            prefix=f"{parser.prog} {args.command}: error: ",
            database_url=lambda: args.database_url,
        )
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): nothing left to tell it. Point
        # stdout at devnull so the interpreter's final flush stays quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
