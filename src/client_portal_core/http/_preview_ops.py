"""The staff preview operation: ``POST /token/preview``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..management_schemas import PreviewRequest, PreviewResponse
from ..schemas import format_utc
from ._bodies import parse_json
from ._messages import ApiOperation, ApiRequest

if TYPE_CHECKING:
    from ..services import ClientPortal

__all__ = ["PreviewOperations"]


class PreviewOperations:
    """``POST /token/preview``: a read-only, 15-minute link to a subject's portal."""

    def __init__(self, portal: ClientPortal) -> None:
        self.portal = portal
        self._max_bytes = portal.settings.max_body_bytes

    def operations(self) -> dict[str, ApiOperation]:
        """Operation name (as in :data:`ROUTES`) to its function."""
        return {"preview_token": self.preview_token}

    def preview_token(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        body = parse_json(request, PreviewRequest, optional=False, max_bytes=self._max_bytes)
        link = self.portal.previews.create(tenant_id, body.type, body.id)
        answer = PreviewResponse(url=link.url, expires_at=format_utc(link.expires_at))
        return 200, answer.model_dump(mode="json")
