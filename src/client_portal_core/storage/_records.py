"""The rows the stores hand out: portal tokens, API tokens, invitations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "TOKEN_FIELDS",
    "AccessRecord",
    "InvitationRecord",
    "StoredApiToken",
    "StoredPortalToken",
    "StoredPreview",
    "StoredSession",
    "TokenQuery",
    "as_utc",
    "token_from_row",
    "token_or_none",
]


@dataclass(frozen=True, slots=True)
class StoredPortalToken:
    """A portal token row: everything but a usable token."""

    id: int
    tenant_id: str
    subject_type: str
    subject_id: str
    sealed: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    current: bool
    last_accessed_at: datetime | None
    access_count: int
    #: The language of the invitation that carried it (its portal pages'), if any.
    locale: str | None = None
    #: When a renewal claimed the token (it stays valid until it expires).
    renewed_at: datetime | None = None

    def status(self, now: datetime) -> str:
        """``revoked``, ``expired`` or ``active`` at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"


@dataclass(frozen=True, slots=True)
class StoredApiToken:
    """An API token row; the token itself is never stored."""

    id: int
    tenant_id: str
    name: str
    hint: str
    created_at: datetime
    revoked_at: datetime | None
    #: The token's scopes (``read``, ``invite``, ``admin``), canonical order.
    scopes: tuple[str, ...] = ("read", "invite", "admin")


@dataclass(frozen=True, slots=True)
class InvitationRecord:
    """One invitation email: who, when, and whether it went out.

    ``status`` is ``pending`` (recorded, not yet handed to the mail server),
    ``sent``, ``failed`` (``error`` says why; retry with
    :meth:`ClientPortal.retry_invitation`) or ``unknown`` (the connection
    failed after the email was handed over: it may have been delivered).
    """

    id: int
    tenant_id: str
    subject_type: str
    subject_id: str
    email: str
    portal_token_id: int
    custom_message: str | None
    status: str
    error: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    #: The language asked for (``None``: the tenant's).
    locale: str | None = None
    #: ``invitation``, or ``renewal`` (a new link sent before the old one expires).
    kind: str = "invitation"
    #: For a renewal: when the link it replaces stops working.
    previous_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A portal session row: who is signed in, through which token, until when.

    The session id itself is never stored, only its SHA-256 (``id_hash``).
    A staff preview's session names its preview (``preview_id``) and the
    token the preview was made with, if the subject had one.
    """

    id: int
    id_hash: str
    tenant_id: str
    token_id: int | None
    subject_type: str
    subject_id: str
    created_at: datetime
    expires_at: datetime
    preview_id: int | None = None


@dataclass(frozen=True, slots=True)
class StoredPreview:
    """A staff preview link's row (``POST /token/preview``); never the link itself.

    ``token_id`` is the subject's newest active token when the preview was
    made (``None`` when it had none); ``ended_at`` is set when the subject's
    tokens were revoked: the link and its sessions open nothing from then on.
    """

    id: int
    tenant_id: str
    subject_type: str
    subject_id: str
    token_id: int | None
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One counted visit of a portal link (``preview``: a staff preview, counted apart;
    its ``token_id`` is ``None`` when the subject had no token)."""

    id: int
    tenant_id: str
    token_id: int | None
    subject_type: str
    subject_id: str
    accessed_at: datetime
    ip: str | None
    user_agent: str | None
    preview: bool


@dataclass(frozen=True, slots=True)
class TokenQuery:
    """Which portal tokens :meth:`TokenListingStore.list_tokens` returns, newest (highest id) first.

    :param now: the time ``status`` and ``expiring_before`` are judged at.
    :param tenant_id: one tenant's tokens (``None``: every tenant's, for renewal jobs).
    :param subject_type: only this type's (``contact``, ``company``).
    :param subject_id: only this subject id's.
    :param status: ``active`` (not revoked, not expired), ``expired`` or ``revoked``.
    :param expiring_before: only active tokens that expire at or before this time.
    :param renewable: only current tokens no renewal has claimed yet.
    :param before_id: only ids below this one (the cursor of the previous page).
    :param limit: at most this many rows.
    """

    now: datetime
    tenant_id: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    status: str | None = None
    expiring_before: datetime | None = None
    renewable: bool = False
    before_id: int | None = None
    limit: int = 50


#: Columns of a portal token row, in :class:`StoredPortalToken` order.
TOKEN_FIELDS = (
    "id",
    "tenant_id",
    "subject_type",
    "subject_id",
    "sealed",
    "created_at",
    "expires_at",
    "revoked_at",
    "current",
    "last_accessed_at",
    "access_count",
    "locale",
    "renewed_at",
)


def as_utc(value: datetime | str) -> datetime:
    # Raw DBAPI rows: SQLite hands back text, PostgreSQL drivers datetimes.
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def as_utc_or_none(value: datetime | str | None) -> datetime | None:
    return None if value is None else as_utc(value)


def token_from_row(row: Sequence[Any]) -> StoredPortalToken:
    """A row of :data:`TOKEN_FIELDS` (DBAPI or SQLAlchemy) as a :class:`StoredPortalToken`."""
    values = dict(zip(TOKEN_FIELDS, row, strict=True))
    for name in ("created_at", "expires_at"):
        values[name] = as_utc(values[name])
    for name in ("revoked_at", "last_accessed_at", "renewed_at"):
        values[name] = as_utc_or_none(values[name])
    values["current"] = bool(values["current"])
    return StoredPortalToken(**values)


def token_or_none(row: Sequence[Any] | None) -> StoredPortalToken | None:
    return None if row is None else token_from_row(row)
