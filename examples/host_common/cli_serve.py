"""The example hosts' ``serve`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from client_portal_core.command_line import check_port_free, configure_logging

from .cli_base import CliError, HostApp
from .cli_commands import mail_description, open_host, store_description
from .demo import demo_banner
from .outbox import demo_outbox_folder, outbox_mailer
from .seed import describe_tenants, has_tenants, seed_demo_data

__all__ = ["run_serve"]


def _listen_url(host: str, port: int) -> str:
    # A wildcard address cannot be visited; links and curl lines use loopback.
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def run_serve(host: HostApp[Any], args: argparse.Namespace) -> int:
    """``serve``: open the database, print the banner, run the production server."""
    # Before anything is created or printed: a port in use must not leave
    # new demo API tokens and curl lines behind that no server answers.
    check_port_free(args.host, args.port)
    # Alembic's INFO narration of each start is quieted (its logger only).
    configure_logging(logging.INFO, fmt="%(levelname)s %(name)s: %(message)s")
    listen_url = _listen_url(args.host, args.port)
    outbox = args.outbox
    if outbox is None and args.demo and args.smtp_url is None:
        outbox = demo_outbox_folder(args.database_url)
    runtime = open_host(
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
    mail = mail_description(runtime.portal)
    if outbox is not None:
        mail = f"written to {outbox}/ (.eml and .html files)"
    print(
        f"Client Portal demo host ({host.framework}, {host.server}) on {listen_url}; "
        f"portal links start with {settings.public_url}; mail: {mail}"
        f"{store_description(runtime.portal)}"
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
