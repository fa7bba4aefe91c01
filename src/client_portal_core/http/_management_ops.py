"""The management operations: configuration changes, revocation, renewal, the lists.

Scopes are checked by the runner before any of these runs (see
:data:`~client_portal_core.scopes.OPERATION_SCOPES`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import NotFound, ValidationFailed
from ..management import INVITATION_STATUSES, TOKEN_STATUSES
from ..management_schemas import (
    AccessItem,
    AccessList,
    InvitationItem,
    InvitationList,
    RenewalFailureItem,
    RenewRequest,
    RenewResponse,
    RevokeRequest,
    RevokeResponse,
    TokenItem,
    TokenList,
)
from ..pagination import InvalidCursor, Page
from ..schemas import ConfigResponse, InviteResponse, PortalConfigUpdate, format_utc
from ..storage import AccessRecord, InvitationRecord, StoredPortalToken
from ._bodies import parse_json, validation_errors
from ._messages import ApiOperation, ApiRequest
from ._queries import QueryReader

if TYPE_CHECKING:
    from ..services import ClientPortal

__all__ = ["ManagementOperations", "listed", "optional_utc", "path_id"]


def optional_utc(moment: datetime | None) -> str | None:
    """``moment`` as ISO 8601 UTC with ``Z``, or ``None``."""
    return None if moment is None else format_utc(moment)


def path_id(request: ApiRequest, name: str, not_found: str) -> int:
    """A positive integer path parameter; anything else names nothing (404).

    :raises NotFound: with ``not_found`` as its message.
    """
    raw = request.path_params.get(name, "")
    if not (raw.isascii() and raw.isdecimal()) or not 0 < int(raw) < 2**63:
        raise NotFound(not_found)
    return int(raw)


def listed(read: Any) -> Any:
    """Run a list read, turning a foreign cursor into a 422 on ``cursor``."""
    try:
        return read()
    except InvalidCursor as exc:
        raise ValidationFailed({"cursor": [str(exc)]}) from exc


def _token_item(row: StoredPortalToken, now: datetime) -> TokenItem:
    return TokenItem.model_validate(
        {
            "token_id": row.id,
            "type": row.subject_type,
            "subject_id": row.subject_id,
            "status": row.status(now),
            "current": row.current,
            "created_at": format_utc(row.created_at),
            "expires_at": format_utc(row.expires_at),
            "revoked_at": optional_utc(row.revoked_at),
            "renewed_at": optional_utc(row.renewed_at),
            "last_accessed_at": optional_utc(row.last_accessed_at),
            "access_count": row.access_count,
        }
    )


def _invitation_item(record: InvitationRecord) -> InvitationItem:
    return InvitationItem.model_validate(
        {
            "invitation_id": record.id,
            "type": record.subject_type,
            "subject_id": record.subject_id,
            "kind": record.kind,
            "email": record.email,
            "status": record.status,
            "error": record.error,
            "created_at": format_utc(record.created_at),
            "sent_at": optional_utc(record.sent_at),
        }
    )


def _access_item(record: AccessRecord) -> AccessItem:
    return AccessItem.model_validate(
        {
            "token_id": record.token_id,
            "type": record.subject_type,
            "subject_id": record.subject_id,
            "accessed_at": format_utc(record.accessed_at),
            "ip": record.ip,
            "user_agent": record.user_agent,
            "preview": record.preview,
        }
    )


class ManagementOperations:
    """``PATCH /config``, ``POST /token/revoke``, ``GET /tokens``, ``POST
    /tokens/renew``, ``GET /invitations``, ``POST /invitations/{id}/retry``,
    ``GET /accesses``."""

    def __init__(self, portal: ClientPortal) -> None:
        self.portal = portal
        self._max_bytes = portal.settings.max_body_bytes

    def operations(self) -> dict[str, ApiOperation]:
        """Operation name (as in :data:`ROUTES`) to its function."""
        return {
            "update_config": self.update_config,
            "revoke_token": self.revoke_token,
            "list_tokens": self.list_tokens,
            "renew_tokens": self.renew_tokens,
            "list_invitations": self.list_invitations,
            "retry_invitation": self.retry_invitation,
            "list_accesses": self.list_accesses,
        }

    def update_config(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        update = parse_json(request, PortalConfigUpdate, optional=True, max_bytes=self._max_bytes)
        try:
            config = self.portal.update_config(tenant_id, update)
        except ValidationError as exc:
            raise ValidationFailed(validation_errors(exc)) from exc
        return 200, ConfigResponse(data=config).model_dump(mode="json")

    def revoke_token(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        body = parse_json(request, RevokeRequest, optional=False, max_bytes=self._max_bytes)
        revoked = self.portal.revoke_subject_tokens(tenant_id, body.type, body.id)
        return 200, RevokeResponse(revoked=len(revoked)).model_dump(mode="json")

    def list_tokens(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        query = QueryReader(request)
        subject_type, subject_id = query.subject_type(), query.subject_id()
        status = query.choice("status", TOKEN_STATUSES)
        expiring = query.integer("expiring_within_days", 1, 365)
        limit, cursor = query.limit(), query.cursor()
        query.done()
        page: Page[StoredPortalToken] = listed(
            lambda: self.portal.management.list_tokens(
                tenant_id,
                subject_type=subject_type,
                subject_id=subject_id,
                status=status,
                expiring_within_days=expiring,
                limit=limit,
                cursor=cursor,
            )
        )
        now = self.portal.clock()
        items = [_token_item(row, now) for row in page.items]
        return 200, TokenList(data=items, next_cursor=page.next_cursor).model_dump(mode="json")

    def renew_tokens(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        body = parse_json(request, RenewRequest, optional=False, max_bytes=self._max_bytes)
        report = self.portal.renew_expiring_tokens(body.expiring_within_days, tenant_id)
        failed = [
            RenewalFailureItem.model_validate(
                {"type": item.subject_type, "id": item.subject_id, "error": item.error}
            )
            for item in report.failed
        ]
        return 200, RenewResponse(renewed=report.renewed, failed=failed).model_dump(mode="json")

    def list_invitations(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        query = QueryReader(request)
        subject_type, subject_id = query.subject_type(), query.subject_id()
        status = query.choice("status", INVITATION_STATUSES)
        limit, cursor = query.limit(), query.cursor()
        query.done()
        page: Page[InvitationRecord] = listed(
            lambda: self.portal.management.list_invitations(
                tenant_id,
                subject_type=subject_type,
                subject_id=subject_id,
                status=status,
                limit=limit,
                cursor=cursor,
            )
        )
        items = [_invitation_item(record) for record in page.items]
        answer = InvitationList(data=items, next_cursor=page.next_cursor)
        return 200, answer.model_dump(mode="json")

    def retry_invitation(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        invitation_id = path_id(request, "invitation_id", "Invitation not found")
        result = self.portal.retry_invitation(tenant_id, invitation_id)
        return 200, InviteResponse(token=result.token.token).model_dump(mode="json")

    def list_accesses(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        query = QueryReader(request)
        subject_type, subject_id = query.subject_type(), query.subject_id()
        limit, cursor = query.limit(), query.cursor()
        query.done()
        page: Page[AccessRecord] = listed(
            lambda: self.portal.management.list_accesses(
                tenant_id,
                subject_type=subject_type,
                subject_id=subject_id,
                limit=limit,
                cursor=cursor,
            )
        )
        items = [_access_item(record) for record in page.items]
        return 200, AccessList(data=items, next_cursor=page.next_cursor).model_dump(mode="json")
