"""The OpenAPI operation objects of every API operation, with its required scope.

One entry of :data:`OPERATIONS` per operation name of ``http.ROUTES``; each
states the scope it needs (``x-required-scope`` and a sentence of its
description) from :data:`~client_portal_core.scopes.OPERATION_SCOPES`, its
parameters, body, answer and every error it can give.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from .management_schemas import (
    AccessList,
    InvitationList,
    PreviewRequest,
    PreviewResponse,
    RenewRequest,
    RenewResponse,
    RevokeRequest,
    RevokeResponse,
    TokenList,
    WebhookCreated,
    WebhookCreateRequest,
    WebhookDeliveryItem,
    WebhookDeliveryList,
    WebhookEndpointItem,
    WebhookEndpointList,
    WebhookSecret,
    WebhookUpdateRequest,
)
from .pagination import DEFAULT_LIMIT, MAX_LIMIT
from .schemas import (
    ConfigResponse,
    ErrorResponse,
    InviteRequest,
    InviteResponse,
    PortalConfigUpdate,
    TokenRequest,
    TokenResponse,
    ValidationErrorResponse,
)
from .scopes import OPERATION_SCOPES
from .validation import MAX_SUBJECT_ID_LENGTH, SUBJECT_ID_PATH_PATTERN, SUBJECT_ID_PATTERN

__all__ = ["MODELS", "OPERATIONS", "operation_spec"]

#: Every model the document's components describe.
MODELS: tuple[type[BaseModel], ...] = (
    ConfigResponse,
    ErrorResponse,
    InviteRequest,
    InviteResponse,
    PortalConfigUpdate,
    TokenRequest,
    TokenResponse,
    ValidationErrorResponse,
    RevokeRequest,
    RevokeResponse,
    PreviewRequest,
    PreviewResponse,
    TokenList,
    InvitationList,
    AccessList,
    RenewRequest,
    RenewResponse,
    WebhookCreateRequest,
    WebhookCreated,
    WebhookUpdateRequest,
    WebhookEndpointItem,
    WebhookEndpointList,
    WebhookDeliveryItem,
    WebhookDeliveryList,
    WebhookSecret,
)

_RATE_HEADERS = {
    "X-RateLimit-Limit": {"schema": {"type": "integer"}, "description": "Requests per window."},
    "X-RateLimit-Remaining": {"schema": {"type": "integer"}, "description": "Left in this window."},
}
_RETRY_AFTER = {"schema": {"type": "integer"}, "description": "Seconds until the window resets."}

#: What each error status means, unless an operation says more.
_ERROR_TEXTS = {
    400: "Malformed JSON body.",
    401: "Missing or invalid API token.",
    403: "The API token lacks the scope this operation requires (the message names it).",
    404: "Not found in this tenant (another tenant's ids are 404 too).",
    409: "Conflict with the current state.",
    413: "Request body too large.",
    415: "Body is not application/json.",
    422: "Validation failed: `errors` has the messages per field or query parameter.",
    429: "Too many requests; see Retry-After.",
    500: "Server error.",
}
_COMMON = (401, 403, 429, 500)
_BODY = (400, 413, 415, 422)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": _RATE_HEADERS,
        "content": {"application/json": {"schema": _ref(model)}},
    }


def _errors(statuses: Iterable[int], texts: Mapping[int, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in sorted(set(statuses)):
        model = ValidationErrorResponse if status == 422 else ErrorResponse
        out[str(status)] = _json(model, texts.get(status, _ERROR_TEXTS[status]))
    out["429"]["headers"] = {**_RATE_HEADERS, "Retry-After": _RETRY_AFTER}
    return out


def _path(name: str, description: str, *, integer: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": 1} if integer else {"type": "string"}
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def _subject_id_path(what: str) -> dict[str, Any]:
    """The ``{id}`` of an invite path, with the rule the server applies to it."""
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": (
            f"The host's {what} id, passed to the directory exactly as sent (percent-decoded): "
            "1 to 64 characters without control or bidirectional formatting characters and "
            "without whitespace at either end, and without `/` (no path segment carries one; "
            "`.` and `..` go as `%2E`). Another id names nobody (404)."
        ),
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_SUBJECT_ID_LENGTH,
            "pattern": SUBJECT_ID_PATH_PATTERN,
        },
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


_PAGE = (
    _query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        "Items per page.",
    ),
    _query("cursor", {"type": "string"}, "The `next_cursor` of the previous page."),
)
_SUBJECT = (
    _query("type", {"type": "string", "enum": ["contact", "company"]}, "Only this subject type."),
    _query(
        "id",
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_SUBJECT_ID_LENGTH,
            "pattern": SUBJECT_ID_PATTERN,
        },
        "Only this subject id (with `type`).",
    ),
)
_ENDPOINT = _path("id", "The webhook endpoint's id.")


def _op(
    summary: str,
    *,
    ok: tuple[int, type[BaseModel] | None, str],
    description: str = "",
    parameters: Sequence[dict[str, Any]] = (),
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    errors: Iterable[int] = (),
    texts: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    status, model, answer = ok
    spec: dict[str, Any] = {"summary": summary, "description": description}
    if parameters:
        spec["parameters"] = list(parameters)
    statuses = set(_COMMON) | set(errors)
    if parameters:
        # A path or query parameter outside its schema is a 422 naming it.
        statuses.add(422)
    if body is not None:
        spec["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": _ref(body)}},
        }
        statuses |= set(_BODY)
    success = (
        {"description": answer, "headers": _RATE_HEADERS} if model is None else _json(model, answer)
    )
    spec["responses"] = {str(status): success, **_errors(statuses, texts or {})}
    return spec


_INVITE_TEXTS = {
    400: "No email address, or malformed JSON.",
    404: "Contact or company not found in this tenant.",
    500: "Sending failed (`Failed to send portal invitation: <reason>`) or server error.",
}
_SUBJECT_404 = {404: "Contact or company not found in this tenant."}
_WEBHOOK_404 = {404: "No such webhook endpoint in this tenant."}
_URL_422 = {422: "Bad `url` (not http(s), unsafe address) or unknown `events`."}


#: The operation objects, by operation name (scope and ids are added by :func:`operation_spec`).
OPERATIONS: dict[str, dict[str, Any]] = {
    "get_config": _op(
        "The tenant's portal configuration", ok=(200, ConfigResponse, "The configuration.")
    ),
    "update_config": _op(
        "Change some of the configuration",
        description="Any subset of the fields, validated like `update_config`; applied at once.",
        body=PortalConfigUpdate,
        body_required=False,
        ok=(200, ConfigResponse, "The whole new configuration."),
    ),
    "invite_contact": _op(
        "Email a contact a portal invitation",
        parameters=[_subject_id_path("contact")],
        body=InviteRequest,
        body_required=False,
        ok=(200, InviteResponse, "Invitation sent."),
        errors=(404,),
        texts=_INVITE_TEXTS,
    ),
    "invite_company": _op(
        "Email a company a portal invitation",
        parameters=[_subject_id_path("company")],
        body=InviteRequest,
        body_required=False,
        ok=(200, InviteResponse, "Invitation sent."),
        errors=(404,),
        texts=_INVITE_TEXTS,
    ),
    "create_token": _op(
        "Get or create (or regenerate) a subject's portal token",
        description="With `regenerate: true` every token of the subject is revoked and a new "
        "one minted in one step; otherwise the valid token is returned unchanged.",
        body=TokenRequest,
        ok=(200, TokenResponse, "The valid (or new) token."),
        errors=(404,),
        texts=_SUBJECT_404,
    ),
    "revoke_token": _op(
        "Revoke every token of a subject",
        description="Its links answer 404 at once; the next `POST /token` mints a new one.",
        body=RevokeRequest,
        ok=(200, RevokeResponse, "How many tokens were revoked."),
        errors=(404,),
        texts=_SUBJECT_404,
    ),
    "preview_token": _op(
        "A staff preview link of a subject's portal",
        description="The link opens the subject's portal read-only for at most 15 minutes, "
        "with a staff preview banner on every page: it counts no client visit, fires no "
        "`token_accessed`, mints no token and cannot request renewals. Each opening is "
        "listed in `GET /accesses` with `preview: true`. Revoking the subject's tokens ends "
        "the link and its sessions.",
        body=PreviewRequest,
        ok=(200, PreviewResponse, "The preview link and when it ends."),
        errors=(404,),
        texts=_SUBJECT_404,
    ),
    "list_tokens": _op(
        "List portal tokens, newest first",
        parameters=[
            *_SUBJECT,
            _query(
                "status",
                {"type": "string", "enum": ["active", "expired", "revoked"]},
                "Only tokens of this status.",
            ),
            _query(
                "expiring_within_days",
                {"type": "integer", "minimum": 1, "maximum": 365},
                "Only active tokens expiring within this many days.",
            ),
            *_PAGE,
        ],
        ok=(200, TokenList, "One page of tokens (never a usable token)."),
    ),
    "renew_tokens": _op(
        "Renew tokens before they expire",
        description="For each subject whose current token expires within N days and was not "
        "renewed yet: a new token and a renewal email; exactly once per token. The old link "
        "works until it expires.",
        body=RenewRequest,
        ok=(200, RenewResponse, "Renewals sent, and the subjects that failed."),
    ),
    "list_invitations": _op(
        "List invitation emails, newest first",
        parameters=[
            *_SUBJECT,
            _query(
                "status",
                {"type": "string", "enum": ["pending", "sent", "failed", "unknown"]},
                "Only invitations of this status.",
            ),
            *_PAGE,
        ],
        ok=(200, InvitationList, "One page of invitations."),
    ),
    "retry_invitation": _op(
        "Send an invitation again",
        parameters=[_path("invitation_id", "The invitation's id.")],
        ok=(200, InviteResponse, "Invitation sent (with a valid token)."),
        errors=(400, 404),
        texts={**_INVITE_TEXTS, 404: "No such invitation (or subject) in this tenant."},
    ),
    "list_accesses": _op(
        "List portal openings (visits and staff previews), newest first",
        description="One item per counted visit of a portal link and per opening of a staff "
        "preview (`preview: true`).",
        parameters=[*_SUBJECT, *_PAGE],
        ok=(200, AccessList, "One page of accesses."),
    ),
    "list_webhooks": _op(
        "List webhook endpoints, newest first",
        parameters=list(_PAGE),
        ok=(200, WebhookEndpointList, "One page of endpoints (never their secrets)."),
    ),
    "create_webhook": _op(
        "Add a webhook endpoint",
        body=WebhookCreateRequest,
        ok=(201, WebhookCreated, "The endpoint and its secret, shown this once."),
        texts=_URL_422,
    ),
    "update_webhook": _op(
        "Change a webhook endpoint",
        parameters=[_ENDPOINT],
        body=WebhookUpdateRequest,
        body_required=False,
        ok=(200, WebhookEndpointItem, "The endpoint."),
        errors=(404,),
        texts={**_WEBHOOK_404, **_URL_422},
    ),
    "delete_webhook": _op(
        "Remove a webhook endpoint with its deliveries",
        parameters=[_ENDPOINT],
        ok=(204, None, "Removed; no body."),
        errors=(404,),
        texts=_WEBHOOK_404,
    ),
    "list_webhook_deliveries": _op(
        "List an endpoint's deliveries, newest first",
        parameters=[
            _ENDPOINT,
            _query(
                "status",
                {"type": "string", "enum": ["pending", "delivered", "failed"]},
                "Only deliveries of this status.",
            ),
            *_PAGE,
        ],
        ok=(200, WebhookDeliveryList, "One page of deliveries."),
        errors=(404,),
        texts=_WEBHOOK_404,
    ),
    "redeliver_webhook": _op(
        "Send a finished delivery again",
        description="Same `webhook-id` and body, fresh timestamp and signature.",
        parameters=[_ENDPOINT, _path("delivery_id", "The delivery's id.")],
        ok=(200, WebhookDeliveryItem, "The delivery, pending again."),
        errors=(404, 409),
        texts={404: "No such endpoint or delivery in this tenant.", 409: "Still pending."},
    ),
    "rotate_webhook_secret": _op(
        "Give an endpoint a new signing secret",
        description="During the grace period (`webhook_secret_grace_seconds`) every delivery "
        "carries a signature by each secret in `webhook-signature`; only the new one after.",
        parameters=[_ENDPOINT],
        ok=(200, WebhookSecret, "The new secret, shown this once."),
        errors=(404,),
        texts=_WEBHOOK_404,
    ),
}


def operation_spec(operation: str) -> dict[str, Any]:
    """The OpenAPI operation object of one route operation (see ``http.ROUTES``)."""
    spec = dict(OPERATIONS[operation])
    scope = OPERATION_SCOPES[operation]
    sentence = f"Requires the `{scope}` scope." if scope else "Requires no scope."
    spec["description"] = " ".join(part for part in (spec["description"], sentence) if part)
    spec["x-required-scope"] = None if scope is None else scope.value
    spec["operationId"] = f"client_portal_{operation}"
    spec["tags"] = ["client-portal"]
    spec["security"] = [{"bearerAuth": []}]
    return spec
