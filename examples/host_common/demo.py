"""What ``serve --demo`` prints: the demo API tokens and curl lines to paste."""

from __future__ import annotations

import json
import shlex
from typing import Any

__all__ = ["demo_banner"]


def _first(subjects: list[dict[str, Any]], *, with_email: bool) -> Any | None:
    """The id of the first subject with (or without) an email, if any."""
    return next((s["id"] for s in subjects if (s["email"] is not None) == with_email), None)


def _curl(token: str, url: str, body: dict[str, Any] | None = None) -> str:
    # -w adds the newline JSON bodies lack, so pasted lines print one answer each.
    parts = ["curl", "-sS", "-i", "-w", r"\n"]
    if body is not None:
        parts += ["-X", "POST"]
    parts += ["-H", f"Authorization: Bearer {token}"]
    if body is not None:
        parts += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    parts.append(url)
    return shlex.join(parts)


def demo_banner(document: dict[str, Any], base_url: str, api_prefix: str) -> list[str]:
    """Lines naming each demo tenant's API token, then commented curl examples.

    :param document: a seed document (see :mod:`examples.host_common.seed`).
    :param base_url: where this server answers, e.g. ``http://127.0.0.1:8000``.
    :param api_prefix: the portal's API prefix (``Settings.api_prefix``).
    """
    tenants = document["tenants"]
    lines = ["Demo tenants (API tokens are shown once; restart with --demo for new ones):"]
    lines += [f"  tenant {t['id']}: API token {t['api_token']}" for t in tenants]
    first, api = tenants[0], base_url.rstrip("/") + api_prefix
    token = first["api_token"]
    contact = _first(first["contacts"], with_email=True)
    company = _first(first["companies"], with_email=True)
    no_email = _first(first["contacts"], with_email=False)
    # (title, path, JSON body or None for a GET, the subject it needs); subjects missing from a
    # database seeded by other means are skipped rather than guessed.
    examples: list[tuple[str, str, dict[str, Any] | None, Any]] = [
        (f"Portal configuration of tenant {first['id']}", "/config", None, True),
        (
            "Portal token of a contact (the same token on every call while it is valid)",
            "/token",
            {"type": "contact", "id": contact},
            contact,
        ),
        (
            "Invite a contact by email",
            f"/contacts/{contact}/invite",
            {"custom_message": "Welcome to our client portal!"},
            contact,
        ),
        ("Invite a company by email", f"/companies/{company}/invite", {}, company),
        ("A contact without an email address: 400", f"/contacts/{no_email}/invite", {}, no_email),
    ]
    if len(tenants) > 1 and tenants[1]["contacts"]:
        other = tenants[1]["contacts"][0]["id"]
        examples.append(
            (
                "Another tenant's contact: 404 (tenants are isolated)",
                f"/contacts/{other}/invite",
                {},
                other,
            )
        )
    lines.append("Try it:")
    for title, path, body, subject in examples:
        if subject is not None:
            lines += [f"  # {title}", f"  {_curl(token, api + path, body)}"]
    return lines
