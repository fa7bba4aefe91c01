"""The webhook endpoint operations: list, add, change, remove, deliveries, rotation.

Another tenant's endpoint or delivery is 404, like one that does not exist.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..errors import Conflict, NotFound, ValidationFailed
from ..management_schemas import (
    WebhookCreated,
    WebhookCreateRequest,
    WebhookDeliveryItem,
    WebhookDeliveryList,
    WebhookEndpointItem,
    WebhookEndpointList,
    WebhookSecret,
    WebhookUpdateRequest,
)
from ..pagination import Page
from ..schemas import format_utc
from ..webhooks import (
    InvalidWebhookEndpoint,
    InvalidWebhookEvents,
    UnsafeWebhookUrl,
    WebhookDelivery,
    WebhookEndpoint,
)
from ._bodies import parse_json
from ._management_ops import listed, optional_utc, path_id
from ._messages import ApiOperation, ApiRequest
from ._queries import QueryReader

if TYPE_CHECKING:
    from ..services import ClientPortal

__all__ = ["WebhookOperations"]

logger = logging.getLogger("client_portal_core.webhooks")

_NO_ENDPOINT = "Webhook endpoint not found"
_NO_DELIVERY = "Webhook delivery not found"
_DELIVERY_STATUSES = ("pending", "delivered", "failed")


def _endpoint_fields(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": format_utc(endpoint.created_at),
    }


def _delivery_item(delivery: WebhookDelivery) -> WebhookDeliveryItem:
    return WebhookDeliveryItem.model_validate(
        {
            "id": delivery.id,
            "webhook_id": delivery.msg_id,
            "event_type": delivery.event_type,
            "status": delivery.status,
            "attempts": delivery.attempt_count,
            "next_attempt_at": optional_utc(delivery.next_attempt_at),
            "last_error": delivery.last_error,
            "created_at": format_utc(delivery.created_at),
            "finished_at": optional_utc(delivery.finished_at),
        }
    )


def _refused(exc: InvalidWebhookEndpoint) -> ValidationFailed:
    """An endpoint the webhooks refused, as a 422 on the field at fault."""
    field = "events" if isinstance(exc, InvalidWebhookEvents) else "url"
    message = str(exc)
    if isinstance(exc, UnsafeWebhookUrl):
        # Which address the name resolved to is for the log; the tenant gets the
        # refusal, without the server setting that would lift it (a tenant has none).
        logger.warning("webhook URL refused (SSRF guard): %s", exc.detail)
        message = exc.refusal
    return ValidationFailed({field: [message]})


class WebhookOperations:
    """``/webhooks`` and everything under it."""

    def __init__(self, portal: ClientPortal) -> None:
        self.portal = portal
        self._max_bytes = portal.settings.max_body_bytes

    def operations(self) -> dict[str, ApiOperation]:
        """Operation name (as in :data:`ROUTES`) to its function."""
        return {
            "list_webhooks": self.list_webhooks,
            "create_webhook": self.create_webhook,
            "update_webhook": self.update_webhook,
            "delete_webhook": self.delete_webhook,
            "list_webhook_deliveries": self.list_deliveries,
            "redeliver_webhook": self.redeliver,
            "rotate_webhook_secret": self.rotate_secret,
        }

    def _endpoint_id(self, request: ApiRequest) -> int:
        return path_id(request, "id", _NO_ENDPOINT)

    def list_webhooks(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        query = QueryReader(request)
        limit, cursor = query.limit(), query.cursor()
        query.done()
        page: Page[WebhookEndpoint] = listed(
            lambda: self.portal.management.list_webhook_endpoints(
                tenant_id, limit=limit, cursor=cursor
            )
        )
        items = [WebhookEndpointItem.model_validate(_endpoint_fields(e)) for e in page.items]
        answer = WebhookEndpointList(data=items, next_cursor=page.next_cursor)
        return 200, answer.model_dump(mode="json")

    def create_webhook(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        body = parse_json(request, WebhookCreateRequest, optional=False, max_bytes=self._max_bytes)
        try:
            added = self.portal.add_webhook_endpoint(tenant_id, body.url, body.events)
        except InvalidWebhookEndpoint as exc:
            raise _refused(exc) from exc
        endpoint = self.portal.webhooks.get_endpoint(tenant_id, added.id)
        if endpoint is None:  # pragma: no cover - removed between two statements
            raise NotFound(_NO_ENDPOINT)
        created = WebhookCreated.model_validate(
            {**_endpoint_fields(endpoint), "secret": added.secret}
        )
        return 201, created.model_dump(mode="json")

    def update_webhook(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        endpoint_id = self._endpoint_id(request)
        body = parse_json(request, WebhookUpdateRequest, optional=True, max_bytes=self._max_bytes)
        try:
            endpoint = self.portal.webhooks.update_endpoint(
                tenant_id, endpoint_id, url=body.url, events=body.events, enabled=body.enabled
            )
        except InvalidWebhookEndpoint as exc:
            raise _refused(exc) from exc
        if endpoint is None:
            raise NotFound(_NO_ENDPOINT)
        item = WebhookEndpointItem.model_validate(_endpoint_fields(endpoint))
        return 200, item.model_dump(mode="json")

    def delete_webhook(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        if not self.portal.remove_webhook_endpoint(tenant_id, self._endpoint_id(request)):
            raise NotFound(_NO_ENDPOINT)
        return 204, None

    def list_deliveries(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        endpoint_id = self._endpoint_id(request)
        query = QueryReader(request)
        status = query.choice("status", _DELIVERY_STATUSES)
        limit, cursor = query.limit(), query.cursor()
        query.done()
        page: Page[WebhookDelivery] = listed(
            lambda: self.portal.management.list_webhook_deliveries(
                tenant_id, endpoint_id, status=status, limit=limit, cursor=cursor
            )
        )
        items = [_delivery_item(delivery) for delivery in page.items]
        answer = WebhookDeliveryList(data=items, next_cursor=page.next_cursor)
        return 200, answer.model_dump(mode="json")

    def redeliver(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        endpoint_id = self._endpoint_id(request)
        delivery_id = path_id(request, "delivery_id", _NO_DELIVERY)
        webhooks = self.portal.webhooks
        found = webhooks.get_delivery(tenant_id, delivery_id, endpoint_id=endpoint_id)
        if found is None:
            raise NotFound(_NO_DELIVERY)
        if found.status == "pending" or not webhooks.redeliver(tenant_id, delivery_id):
            raise Conflict("The delivery is still pending; it cannot be sent again yet")
        queued = webhooks.get_delivery(tenant_id, delivery_id, endpoint_id=endpoint_id)
        return 200, _delivery_item(queued or found).model_dump(mode="json")

    def rotate_secret(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        rotated = self.portal.webhooks.rotate_secret(tenant_id, self._endpoint_id(request))
        if rotated is None:
            raise NotFound(_NO_ENDPOINT)
        answer = WebhookSecret(
            id=rotated.id,
            secret=rotated.secret,
            previous_secret_expires_at=format_utc(rotated.previous_expires_at),
        )
        return 200, answer.model_dump(mode="json")
