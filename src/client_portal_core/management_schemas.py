"""Pydantic models of the management API: request bodies, list items, answers.

The single source of these answers: the HTTP operations build them, and the
OpenAPI document is generated from them. Times are ISO 8601 UTC with ``Z``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .events import ALL_EVENT_TYPES
from .schemas import SubjectId, SubjectType
from .validation import WEBHOOK_URL_PATTERN

__all__ = [
    "AccessItem",
    "AccessList",
    "InvitationItem",
    "InvitationList",
    "PreviewRequest",
    "PreviewResponse",
    "RenewRequest",
    "RenewResponse",
    "RenewalFailureItem",
    "RevokeRequest",
    "RevokeResponse",
    "TokenItem",
    "TokenList",
    "WebhookCreateRequest",
    "WebhookCreated",
    "WebhookDeliveryItem",
    "WebhookDeliveryList",
    "WebhookEndpointItem",
    "WebhookEndpointList",
    "WebhookSecret",
    "WebhookUpdateRequest",
]

_UTC = "ISO 8601 UTC, e.g. 2030-01-31T12:00:00Z"
_CURSOR = "Pass as `cursor` for the next page; null on the last page."


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RevokeRequest(_Body):
    """Body of ``POST /token/revoke``."""

    type: SubjectType
    id: SubjectId


class RevokeResponse(BaseModel):
    """Answer of ``POST /token/revoke``."""

    message: Literal["Portal access revoked"] = "Portal access revoked"
    revoked: int = Field(description="How many tokens were revoked (0 when none was live).")


class TokenItem(BaseModel):
    """One portal token in ``GET /tokens`` (never the token itself)."""

    token_id: int
    type: SubjectType
    subject_id: str
    status: Literal["active", "expired", "revoked"]
    current: bool = Field(description="Whether `POST /token` hands this token out.")
    created_at: str = Field(description=_UTC)
    expires_at: str = Field(description=_UTC)
    revoked_at: str | None = Field(description=_UTC)
    renewed_at: str | None = Field(description="When a renewal replaced it (it stays valid).")
    last_accessed_at: str | None = Field(description=_UTC)
    access_count: int


class TokenList(BaseModel):
    """Answer of ``GET /tokens``."""

    data: list[TokenItem]
    next_cursor: str | None = Field(description=_CURSOR)


class InvitationItem(BaseModel):
    """One invitation email in ``GET /invitations``."""

    invitation_id: int
    type: SubjectType
    subject_id: str
    kind: Literal["invitation", "renewal"]
    email: str
    status: Literal["pending", "sent", "failed", "unknown"]
    error: str | None
    created_at: str = Field(description=_UTC)
    sent_at: str | None = Field(description=_UTC)


class InvitationList(BaseModel):
    """Answer of ``GET /invitations``."""

    data: list[InvitationItem]
    next_cursor: str | None = Field(description=_CURSOR)


class PreviewRequest(_Body):
    """Body of ``POST /token/preview``."""

    type: SubjectType
    id: SubjectId


class PreviewResponse(BaseModel):
    """Answer of ``POST /token/preview``: a staff preview link."""

    url: str = Field(
        description="Opens the subject's portal read-only, marked as a staff preview; "
        "it counts no visit and holds no usable portal token."
    )
    expires_at: str = Field(description="When the link and its sessions end (15 minutes).")


class AccessItem(BaseModel):
    """One opening of the portal in ``GET /accesses``: a client's visit, or a staff preview."""

    token_id: int | None = Field(
        description="The token opened (for a preview: the subject's token when it was made; "
        "null when it had none)."
    )
    type: SubjectType
    subject_id: str
    accessed_at: str = Field(description=_UTC)
    ip: str | None
    user_agent: str | None
    preview: bool = Field(description="True for a staff preview (not a client's visit).")


class AccessList(BaseModel):
    """Answer of ``GET /accesses``."""

    data: list[AccessItem]
    next_cursor: str | None = Field(description=_CURSOR)


class RenewRequest(_Body):
    """Body of ``POST /tokens/renew``."""

    expiring_within_days: int = Field(ge=1, le=365, strict=True)


class RenewalFailureItem(BaseModel):
    """A subject whose renewal was not sent."""

    type: SubjectType
    id: str
    error: str


class RenewResponse(BaseModel):
    """Answer of ``POST /tokens/renew``."""

    renewed: int = Field(description="Renewal emails sent by this call.")
    failed: list[RenewalFailureItem]


#: What the endpoint check accepts before it resolves the host (a name that
#: resolves to a private address, or not at all, is still a 422).
_URL_SCHEMA: dict[str, Any] = {"minLength": 1, "pattern": WEBHOOK_URL_PATTERN}
#: One or more known event types (repeats are kept once).
_EVENTS_SCHEMA: dict[str, Any] = {
    "minItems": 1,
    "items": {"type": "string", "enum": list(ALL_EVENT_TYPES)},
}


class WebhookCreateRequest(_Body):
    """Body of ``POST /webhooks``."""

    url: str = Field(
        max_length=2048,
        description="http(s) URL on a public address.",
        json_schema_extra=_URL_SCHEMA,
    )
    events: list[str] | None = Field(
        None, description="Event types; all of them by default.", json_schema_extra=_EVENTS_SCHEMA
    )


class WebhookUpdateRequest(_Body):
    """Body of ``PATCH /webhooks/{id}``: any of the fields."""

    url: str | None = Field(None, max_length=2048, json_schema_extra=_URL_SCHEMA)
    events: list[str] | None = Field(None, json_schema_extra=_EVENTS_SCHEMA)
    enabled: bool | None = Field(None, strict=True)


class WebhookEndpointItem(BaseModel):
    """A webhook endpoint (never its secret)."""

    id: int
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: str = Field(description=_UTC)


class WebhookCreated(WebhookEndpointItem):
    """Answer of ``POST /webhooks``: the endpoint and its secret, shown this once."""

    secret: str = Field(description="`whsec_...`; store it, it is never shown again.")


class WebhookEndpointList(BaseModel):
    """Answer of ``GET /webhooks``."""

    data: list[WebhookEndpointItem]
    next_cursor: str | None = Field(description=_CURSOR)


class WebhookSecret(BaseModel):
    """Answer of ``POST /webhooks/{id}/rotate-secret``: the new secret, shown this once."""

    id: int
    secret: str
    previous_secret_expires_at: str = Field(
        description="Until then every delivery is signed by the old and the new secret."
    )


class WebhookDeliveryItem(BaseModel):
    """One message for one endpoint."""

    id: int
    webhook_id: str = Field(description="The `webhook-id` header (the same on every retry).")
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: str | None = Field(description=_UTC)
    last_error: str | None
    created_at: str = Field(description=_UTC)
    finished_at: str | None = Field(description=_UTC)


class WebhookDeliveryList(BaseModel):
    """Answer of ``GET /webhooks/{id}/deliveries``."""

    data: list[WebhookDeliveryItem]
    next_cursor: str | None = Field(description=_CURSOR)
