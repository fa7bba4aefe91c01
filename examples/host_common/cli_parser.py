"""The ``argparse`` parser of the example hosts' command line."""

from __future__ import annotations

import argparse
from typing import Any

from client_portal_core import ALL_EVENT_TYPES, Scope, SubjectType
from client_portal_core.command_line import OneLineArgumentParser

from . import cli_options as opt
from .cli_base import HostApp
from .cli_portal import add_portal_commands

__all__ = ["build_parser"]


def build_parser(host: HostApp[Any]) -> argparse.ArgumentParser:
    """The ``argparse`` parser of one host's command line."""
    parser = OneLineArgumentParser(
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
    serve.add_argument("--port", type=opt.tcp_port, required=True, help="TCP port to listen on")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (%(default)s)")
    opt.add_database_options(serve)
    serve.add_argument(
        "--smtp-url",
        type=opt.smtp_url,
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
        type=opt.http_url,
        metavar="URL",
        help="base URL of portal links; default http://HOST:PORT",
    )
    serve.add_argument(
        "--rate-limit", type=opt.rate_limit, metavar="RATE", help="per API token; default 60/minute"
    )
    serve.add_argument(
        "--invite-limit",
        type=opt.rate_limit,
        metavar="RATE",
        help="invitations per contact or company, e.g. 3/hour (more answer 429 naming the "
        "subject); default: no limit",
    )
    serve.add_argument(
        "--rate-limit-storage",
        type=opt.rate_limit_storage,
        metavar="URI",
        help="memory:// (default, this process) or redis://HOST:PORT (shared by all processes)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        type=opt.forwarded_allow_ips,
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
    opt.add_database_options(seed)

    webhook = commands.add_parser(
        "add-webhook",
        help="subscribe a URL to a tenant's events",
        description='Subscribe a URL to a tenant\'s events; prints {"id": ..., "secret": '
        '"whsec_..."}. The demos allow URLs on loopback and private addresses.',
    )
    opt.add_database_options(webhook)
    webhook.add_argument("--tenant", type=opt.tenant_id, required=True, metavar="ID")
    webhook.add_argument("--url", type=opt.http_url, required=True, metavar="URL")
    webhook.add_argument(
        "--event",
        action="append",
        choices=ALL_EVENT_TYPES,
        metavar="NAME",
        help=f"repeat for several; default: all of {', '.join(ALL_EVENT_TYPES)}",
    )
    _add_invite_bulk(commands, host)
    add_portal_commands(commands, opt.add_database_options, opt.tenant_id)
    _add_management_commands(commands)
    return parser


def _add_management_commands(commands: Any) -> None:
    token = commands.add_parser(
        "create-api-token",
        help="create an API token for a tenant, with scopes",
        description='Create an API token bound to a tenant; prints {"id", "token", "scopes"}. '
        "The token is shown this once (only its hash is stored).",
    )
    opt.add_database_options(token)
    token.add_argument("--tenant", type=opt.tenant_id, required=True, metavar="ID")
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
    opt.add_database_options(renew)
    renew.add_argument("--tenant", type=opt.tenant_id, required=True, metavar="ID")
    renew.add_argument("--within-days", type=opt.within_days, required=True, metavar="N")
    renew.add_argument(
        "--smtp-url",
        type=opt.smtp_url,
        metavar="URL",
        help="send through smtp://HOST:PORT; default: print the emails on stderr",
    )
    renew.add_argument(
        "--public-url",
        type=opt.http_url,
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
    opt.add_database_options(bulk)
    bulk.add_argument("--tenant", type=opt.tenant_id, required=True, metavar="ID")
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
        type=opt.job_id,
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
        type=opt.smtp_url,
        metavar="URL",
        help="send through smtp://HOST:PORT over one connection; default: an installed "
        "mailer plugin's, else print the emails to the console (on stderr, so stdout "
        "stays the JSON report)",
    )
    bulk.add_argument(
        "--public-url",
        type=opt.http_url,
        metavar="URL",
        help="base URL of the portal links in the emails, as given to serve; "
        "default: the library's (http://127.0.0.1:8000)",
    )
    bulk.add_argument(
        "--custom-message",
        type=opt.custom_message,
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
