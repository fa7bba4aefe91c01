"""The OpenAPI 3.1 document of the Client Portal API, built from the pydantic schemas.

Each operation states the scope it requires (``x-required-scope`` and its
description), and every parameter, answer and error; see
:mod:`client_portal_core.openapi_specs`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic.json_schema import models_json_schema

from .openapi_specs import MODELS, operation_spec
from .schemas import LOCALE_PATTERN
from .settings import Settings

__all__ = ["build_openapi", "installed_locale_pattern", "operation_spec"]

_DESCRIPTION = (
    "Portal configuration, invitations, portal access tokens, renewals and webhook "
    "endpoints. Every call needs `Authorization: Bearer <API token>`; the token decides "
    "the tenant and its scopes (`read`: every GET; `invite`: invitations, tokens, "
    "revocation, renewal; `admin`: configuration and webhook endpoints). A call outside "
    "the token's scopes is 403. Lists are newest first, `{data, next_cursor}`."
)


def build_openapi(
    settings: Settings,
    routes: Iterable[tuple[str, str, str]],
    *,
    locales: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The whole document, with paths under ``settings.api_prefix``.

    :param routes: ``(method, path, operation)`` of every documented API route.
    :param locales: the installed catalogs; a ``locale`` field is then described
        as what the server accepts, a tag naming one of them (``de-AT`` for ``de``),
        not merely any well-formed tag.
    """
    _, schemas = models_json_schema(
        [(model, "validation") for model in MODELS],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for method, path, operation in routes:
        paths.setdefault(settings.api_prefix + path, {})[method.lower()] = operation_spec(operation)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Client Portal API", "version": "1", "description": _DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": _markdown(_installed_locales(schemas.get("$defs", {}), locales)),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A library API token (`cpk_...`) or a key the host's "
                    "authentication hook accepts.",
                }
            },
        },
        "security": [{"bearerAuth": []}],
    }


def installed_locale_pattern(locales: Sequence[str]) -> str:
    """A JSON Schema pattern of the tags that name one of ``locales``.

    Matching is case-insensitive and takes ``-`` for ``_``; a tag with more
    parts than a catalog's name falls back to it (``de_AT`` names ``de``).
    """
    choices = []
    for locale in sorted(locales):
        parts = re.split("[_-]", locale)
        spelled = "[_-]".join(
            "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in part)
            for part in parts
        )
        extra = max(0, 3 - len(parts))
        choices.append(f"{spelled}(?:[_-][A-Za-z0-9]{{2,8}}){{0,{extra}}}")
    return f"^(?:{'|'.join(choices)})(?![\\s\\S])"


def _installed_locales(node: Any, locales: Sequence[str] | None) -> Any:
    """``node`` with each locale pattern narrowed to the installed ``locales``."""
    if locales is None:
        return node
    if isinstance(node, dict):
        return {
            key: installed_locale_pattern(locales)
            if key == "pattern" and value == LOCALE_PATTERN
            else _installed_locales(value, locales)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_installed_locales(item, locales) for item in node]
    return node


def _markdown(node: Any) -> Any:
    """``node`` with docstring-style ````code```` turned into Markdown `code`."""
    if isinstance(node, dict):
        return {
            key: value.replace("``", "`")
            if key == "description" and isinstance(value, str)
            else _markdown(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_markdown(item) for item in node]
    return node
