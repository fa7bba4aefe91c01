"""The OpenAPI 3.1 document of the Client Portal API, built from the pydantic schemas.

Each operation states the scope it requires (``x-required-scope`` and its
description), and every parameter, answer and error; see
:mod:`client_portal_core.openapi_specs`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic.json_schema import models_json_schema

from .openapi_specs import MODELS, operation_spec
from .settings import Settings

__all__ = ["build_openapi", "operation_spec"]

_DESCRIPTION = (
    "Portal configuration, invitations, portal access tokens, renewals and webhook "
    "endpoints. Every call needs `Authorization: Bearer <API token>`; the token decides "
    "the tenant and its scopes (`read`: every GET; `invite`: invitations, tokens, "
    "revocation, renewal; `admin`: configuration and webhook endpoints). A call outside "
    "the token's scopes is 403. Lists are newest first, `{data, next_cursor}`."
)


def build_openapi(settings: Settings, routes: Iterable[tuple[str, str, str]]) -> dict[str, Any]:
    """The whole document, with paths under ``settings.api_prefix``.

    :param routes: ``(method, path, operation)`` of every documented API route.
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
            "schemas": _markdown(schemas.get("$defs", {})),
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
