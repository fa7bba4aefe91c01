"""The management lists: portal tokens, invitations, accesses, webhook endpoints and deliveries.

Every list is one tenant's, newest first, and cursor-paginated (see
:mod:`client_portal_core.pagination`): ``limit`` 1..100 (default 50) and the
``cursor`` of the previous page. No item carries a usable token or secret.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from .errors import NotFound
from .pagination import DEFAULT_LIMIT, MAX_LIMIT, CursorCodec, Page
from .portal_tokens import PortalTokens
from .storage import (
    AccessRecord,
    AccessStore,
    InvitationRecord,
    InvitationStore,
    StoredPortalToken,
    TokenQuery,
)
from .webhooks import WebhookDelivery, WebhookEndpoint, Webhooks

__all__ = [
    "INVITATION_STATUSES",
    "TOKEN_STATUSES",
    "Management",
]

#: The statuses ``GET /tokens`` filters on.
TOKEN_STATUSES = ("active", "expired", "revoked")
#: The statuses ``GET /invitations`` filters on.
INVITATION_STATUSES = ("pending", "sent", "failed", "unknown")


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1 to {MAX_LIMIT}")
    return limit


class Management:
    """Reads the lists of the management API.

    :param tokens: the portal tokens (through the token store).
    :param invitations: the invitation records.
    :param webhooks: the webhook endpoints and deliveries.
    :param codec: signs and reads the cursors.
    :param clock: the portal's clock (token status is judged now).
    :param accesses: the access log (visits and staff previews).
    """

    def __init__(
        self,
        tokens: PortalTokens,
        invitations: InvitationStore,
        webhooks: Webhooks,
        *,
        codec: CursorCodec,
        clock: Callable[[], datetime],
        accesses: AccessStore,
    ) -> None:
        self.tokens = tokens
        self.accesses = accesses
        self.invitations = invitations
        self.webhooks = webhooks
        self.codec = codec
        self.clock = clock

    def _before(self, list_name: str, tenant_id: str, cursor: str | None) -> int | None:
        """The id a page starts below. :raises InvalidCursor: a foreign cursor."""
        return None if cursor is None else self.codec.decode(list_name, tenant_id, cursor)

    def list_tokens(
        self,
        tenant_id: str,
        *,
        subject_type: str | None = None,
        subject_id: str | None = None,
        status: str | None = None,
        expiring_within_days: int | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page[StoredPortalToken]:
        """The tenant's portal tokens (see :class:`~client_portal_core.storage.TokenQuery`).

        :param expiring_within_days: only active tokens expiring within this many days.
        :raises ValueError: a bad status or limit.
        :raises InvalidCursor: a cursor of another list or tenant.
        """
        if status is not None and status not in TOKEN_STATUSES:
            raise ValueError(f"status must be one of {', '.join(TOKEN_STATUSES)}")
        now = self.clock()
        expiring = None
        if expiring_within_days is not None:
            expiring = now + timedelta(days=expiring_within_days)
        query = TokenQuery(
            now=now,
            tenant_id=tenant_id,
            subject_type=subject_type,
            subject_id=subject_id,
            status=status,
            expiring_before=expiring,
            before_id=self._before("tokens", tenant_id, cursor),
            limit=_check_limit(limit) + 1,
        )
        rows = self.tokens.list_tokens(query)
        return self.codec.page("tokens", tenant_id, rows, limit, lambda row: row.id)

    def list_invitations(
        self,
        tenant_id: str,
        *,
        subject_type: str | None = None,
        subject_id: str | None = None,
        status: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page[InvitationRecord]:
        """The tenant's invitations (renewals included), newest first.

        :raises ValueError: a bad status or limit.
        :raises InvalidCursor: a cursor of another list or tenant.
        """
        if status is not None and status not in INVITATION_STATUSES:
            raise ValueError(f"status must be one of {', '.join(INVITATION_STATUSES)}")
        rows = self.invitations.list_invitations(
            tenant_id,
            status,
            _check_limit(limit) + 1,
            subject_type=subject_type,
            subject_id=subject_id,
            before_id=self._before("invitations", tenant_id, cursor),
        )
        return self.codec.page("invitations", tenant_id, rows, limit, lambda row: row.id)

    def list_accesses(
        self,
        tenant_id: str,
        *,
        subject_type: str | None = None,
        subject_id: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page[AccessRecord]:
        """The tenant's access log, newest first: each counted visit of a portal
        link, and each opening of a staff preview (``preview`` True).

        :raises ValueError: a bad limit.
        :raises InvalidCursor: a cursor of another list or tenant.
        """
        rows = self.accesses.list_accesses(
            tenant_id,
            subject_type=subject_type,
            subject_id=subject_id,
            before_id=self._before("accesses", tenant_id, cursor),
            limit=_check_limit(limit) + 1,
        )
        return self.codec.page("accesses", tenant_id, rows, limit, lambda row: row.id)

    def list_webhook_endpoints(
        self, tenant_id: str, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> Page[WebhookEndpoint]:
        """The tenant's webhook endpoints, newest first (never their secrets)."""
        rows = self.webhooks.endpoints_page(
            tenant_id,
            before_id=self._before("webhooks", tenant_id, cursor),
            limit=_check_limit(limit) + 1,
        )
        return self.codec.page("webhooks", tenant_id, rows, limit, lambda e: e.id)

    def list_webhook_deliveries(
        self,
        tenant_id: str,
        endpoint_id: int,
        *,
        status: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page[WebhookDelivery]:
        """One endpoint's deliveries, newest first.

        :raises NotFound: the tenant has no such endpoint.
        """
        if self.webhooks.get_endpoint(tenant_id, endpoint_id) is None:
            raise NotFound("Webhook endpoint not found")
        list_name = f"deliveries/{endpoint_id}"
        rows = self.webhooks.list_deliveries(
            tenant_id,
            status=status,
            endpoint_id=endpoint_id,
            limit=_check_limit(limit) + 1,
            before_id=self._before(list_name, tenant_id, cursor),
        )
        return self.codec.page(list_name, tenant_id, rows, limit, lambda row: row.id)
