"""The OpenAPI 3.1 document of the Client Portal API, built from the pydantic schemas."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .schemas import (
    ConfigResponse,
    ErrorResponse,
    InviteRequest,
    InviteResponse,
    TokenRequest,
    TokenResponse,
    ValidationErrorResponse,
)
from .settings import Settings
from .validation import MAX_SUBJECT_ID_LENGTH, SUBJECT_ID_PATTERN

__all__ = ["build_openapi", "operation_spec"]

_MODELS: tuple[type[BaseModel], ...] = (
    ConfigResponse,
    ErrorResponse,
    InviteRequest,
    InviteResponse,
    TokenRequest,
    TokenResponse,
    ValidationErrorResponse,
)
_RATE_HEADERS = {
    "X-RateLimit-Limit": {"schema": {"type": "integer"}, "description": "Requests per window."},
    "X-RateLimit-Remaining": {"schema": {"type": "integer"}, "description": "Left in this window."},
}

_RETRY_AFTER = {
    "schema": {"type": "integer"},
    "description": "Seconds until the window resets.",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": _RATE_HEADERS,
        "content": {"application/json": {"schema": _ref(model)}},
    }


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "No email address, or malformed JSON.",
        401: "Missing or invalid API token.",
        404: "Contact or company not found in this tenant.",
        413: "Request body too large.",
        415: "Body is not application/json.",
        422: "Body failed validation.",
        429: "Too many requests; see Retry-After.",
        500: "Sending failed (`Failed to send portal invitation: <reason>`) or server error.",
    }
    out: dict[str, Any] = {}
    for status in statuses:
        model = ValidationErrorResponse if status == 422 else ErrorResponse
        out[str(status)] = _json(model, texts[status])
    if 429 in statuses:
        out["429"]["headers"] = {**_RATE_HEADERS, "Retry-After": _RETRY_AFTER}
    return out


def _id_param(what: str) -> dict[str, Any]:
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": (
            f"The host's {what} id, passed to the directory exactly as sent (percent-decoded): "
            "1 to 64 characters without control or bidirectional formatting characters and "
            "without whitespace at either end. Another id names nobody (404)."
        ),
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_SUBJECT_ID_LENGTH,
            "pattern": SUBJECT_ID_PATTERN,
        },
    }


def operation_spec(operation: str) -> dict[str, Any]:
    """The OpenAPI operation object of one route operation (see ``http.ROUTES``)."""
    common = (401, 429, 500)
    invite_body = {
        "required": False,
        "content": {"application/json": {"schema": _ref(InviteRequest)}},
    }
    specs: dict[str, dict[str, Any]] = {
        "get_config": {
            "summary": "The tenant's portal configuration",
            "responses": {"200": _json(ConfigResponse, "The configuration."), **_errors(*common)},
        },
        "invite_contact": {
            "summary": "Email a contact a portal invitation",
            "parameters": [_id_param("contact")],
            "requestBody": invite_body,
            "responses": {
                "200": _json(InviteResponse, "Invitation sent."),
                **_errors(400, 404, 413, 415, 422, *common),
            },
        },
        "invite_company": {
            "summary": "Email a company a portal invitation",
            "parameters": [_id_param("company")],
            "requestBody": invite_body,
            "responses": {
                "200": _json(InviteResponse, "Invitation sent."),
                **_errors(400, 404, 413, 415, 422, *common),
            },
        },
        "create_token": {
            "summary": "Get or create a subject's portal token",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(TokenRequest)}},
            },
            "responses": {
                "200": _json(TokenResponse, "The valid token (same while it is valid)."),
                **_errors(400, 404, 413, 415, 422, *common),
            },
        },
    }
    spec = dict(specs[operation])
    spec["operationId"] = f"client_portal_{operation}"
    spec["tags"] = ["client-portal"]
    spec["security"] = [{"bearerAuth": []}]
    return spec


def build_openapi(settings: Settings) -> dict[str, Any]:
    """The whole document, with paths under ``settings.api_prefix``."""
    _, schemas = models_json_schema(
        [(model, "validation") for model in _MODELS],
        ref_template="#/components/schemas/{model}",
    )
    prefix = settings.api_prefix
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Client Portal API",
            "version": "1",
            "description": "Portal configuration, invitations and portal access tokens.",
        },
        "paths": {
            f"{prefix}/config": {"get": operation_spec("get_config")},
            f"{prefix}/contacts/{{id}}/invite": {"post": operation_spec("invite_contact")},
            f"{prefix}/companies/{{id}}/invite": {"post": operation_spec("invite_company")},
            f"{prefix}/token": {"post": operation_spec("create_token")},
        },
        "components": {
            "schemas": _markdown(schemas.get("$defs", {})),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
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
