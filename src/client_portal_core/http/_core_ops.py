"""The JSON operations of the original contract: configuration, invitations, tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import NotFound, SubjectNotFound
from ..schemas import (
    ConfigResponse,
    InviteRequest,
    InviteResponse,
    SubjectType,
    TokenRequest,
)
from ..validation import check_subject_id
from ._bodies import parse_json
from ._messages import ApiOperation, ApiRequest

if TYPE_CHECKING:
    from ..services import ClientPortal

__all__ = ["CoreOperations"]


class CoreOperations:
    """``GET /config``, the invite endpoints and ``POST /token``."""

    def __init__(self, portal: ClientPortal) -> None:
        self.portal = portal
        self._max_bytes = portal.settings.max_body_bytes

    def operations(self) -> dict[str, ApiOperation]:
        """Operation name (as in :data:`ROUTES`) to its function."""
        return {
            "get_config": self.get_config,
            "invite_contact": self.invite_contact,
            "invite_company": self.invite_company,
            "create_token": self.create_token,
            "not_found": self.not_found,
        }

    def get_config(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        config = self.portal.get_config(tenant_id)
        return 200, ConfigResponse(data=config).model_dump(mode="json")

    def _invite(self, kind: SubjectType, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        raw_id = request.path_params.get("id", "")
        try:
            # The id as sent (percent-decoded); one the rule refuses names nobody.
            subject_id = check_subject_id(raw_id)
        except ValueError as exc:
            raise SubjectNotFound(kind.value, raw_id) from exc
        body = parse_json(request, InviteRequest, optional=True, max_bytes=self._max_bytes)
        result = self.portal.invite(
            tenant_id, kind, subject_id, body.custom_message, locale=body.locale
        )
        return 200, InviteResponse(token=result.token.token).model_dump(mode="json")

    def invite_contact(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        return self._invite(SubjectType.CONTACT, tenant_id, request)

    def invite_company(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        return self._invite(SubjectType.COMPANY, tenant_id, request)

    def not_found(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        raise NotFound()

    def create_token(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        body = parse_json(request, TokenRequest, optional=False, max_bytes=self._max_bytes)
        if body.regenerate:
            issued = self.portal.regenerate_token(tenant_id, body.type, body.id)
        else:
            issued = self.portal.get_or_create_token(tenant_id, body.type, body.id)
        return 200, issued.to_response().model_dump(mode="json")
