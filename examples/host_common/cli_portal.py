"""The portal commands of the example hosts' command line: ``configure`` and
``set-token-expiry`` (wired into :mod:`.cli`)."""

from __future__ import annotations

import argparse
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pydantic

from client_portal_core import PortalConfigUpdate
from client_portal_core.errors import TokenInvalid
from client_portal_core.schemas import format_utc

__all__ = ["add_portal_commands", "configure", "set_token_expiry"]

#: ``configure`` options, one per configuration field, built from the model so a
#: field added to the configuration gets its option without touching this file.
_FIELDS = PortalConfigUpdate.model_fields


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"not true or false: {value!r}")


def _integer(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from exc


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def _text_or_none(value: str) -> str | None:
    return value or None


def _iso_moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time like 2030-01-31T12:00:00Z: {value!r}"
        ) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _option_type(annotation: Any) -> tuple[Callable[[str], Any], str]:
    """The argparse type and metavar of a ``PortalConfigUpdate`` field."""
    inner = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    kind = inner[0] if inner else annotation
    if kind is bool:
        return _boolean, "true|false"
    if kind is int:
        return _integer, "N"
    if typing.get_origin(kind) is list:
        return _names, "A,B,..."
    return _text_or_none, "TEXT"


def add_portal_commands(
    commands: Any, add_database_options: Callable[[argparse.ArgumentParser], None], tenant: Any
) -> None:
    """Add ``configure`` and ``set-token-expiry`` to the command line's sub-parsers."""
    configure_parser = commands.add_parser(
        "configure",
        help="set a tenant's portal configuration (branding, modules, ...)",
        description="Change some of a tenant's portal configuration and print all of it as "
        'JSON ({"data": {...}}, as GET /config answers). Options not given keep their '
        "value; an empty TEXT clears an optional text (the logo, say).",
    )
    add_database_options(configure_parser)
    configure_parser.add_argument("--tenant", type=tenant, required=True, metavar="ID")
    for name, field in _FIELDS.items():
        parse, metavar = _option_type(field.annotation)
        configure_parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=parse,
            metavar=metavar,
            default=argparse.SUPPRESS,
            help=(PortalConfigUpdate.model_fields[name].description or name.replace("_", " ")),
        )
    expiry = commands.add_parser(
        "set-token-expiry",
        help="move a portal link's expiry (extend it, or end it early)",
        description="Move the expiry of one portal link; the link itself does not change. "
        'Prints {"token_id", "tenant_id", "expires_at"}. A time in the past ends the link '
        "(it then offers 'Email me a new link'); sessions opened with it end too.",
    )
    add_database_options(expiry)
    expiry.add_argument("--token", required=True, metavar="TOKEN", help="the portal token")
    expiry.add_argument(
        "--expires-at",
        type=_iso_moment,
        required=True,
        metavar="ISO8601",
        help="the new expiry, e.g. 2030-01-31T12:00:00Z (no zone: UTC)",
    )


def _option_name(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location).replace("_", "-")


def configure(portal: Any, tenant_id: str, args: argparse.Namespace) -> dict[str, Any]:
    """Apply the given ``configure`` options; the full configuration as ``{"data": ...}``.

    :raises ValueError: a value is invalid (the message names each field).
    """
    changes = {name: getattr(args, name) for name in _FIELDS if hasattr(args, name)}
    try:
        config = portal.update_config(tenant_id, **changes)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"--{_option_name(error['loc'])}: {error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise ValueError(problems) from None
    return {"data": config.model_dump(mode="json")}


def set_token_expiry(portal: Any, token: str, expires_at: datetime) -> dict[str, Any]:
    """Move one link's expiry; what changed, as printed.

    :raises LookupError: the token is not a genuine, unrevoked link of this database.
    """
    try:
        row = portal.set_token_expiry(token, expires_at)
    except TokenInvalid as exc:
        raise LookupError("no such portal link (tampered, unknown or revoked)") from exc
    return {
        "token_id": row.id,
        "tenant_id": row.tenant_id,
        "expires_at": format_utc(row.expires_at),
    }
