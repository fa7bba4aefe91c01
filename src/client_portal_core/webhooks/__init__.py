"""Webhooks: per-tenant endpoints, Standard Webhooks signing, outbox delivery.

Events are written to the outbox in the transaction of the change they
describe (see :meth:`~client_portal_core.storage.Database.write_events`); a
:class:`WebhookWorker`, in a thread of the host or in its own process
(``client-portal webhook-worker``), delivers them with retries. Receivers
check what they get with :func:`verify`.
"""

from __future__ import annotations

from ._endpoints import (
    NewWebhookEndpoint,
    RotatedWebhookSecret,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    Webhooks,
    webhook_sealer,
)
from ._signing import (
    DEFAULT_TOLERANCE_SECONDS,
    SECRET_PREFIX,
    WebhookVerificationError,
    generate_secret,
    sign,
    signature_headers,
    verify,
)
from ._urls import (
    InvalidWebhookEndpoint,
    InvalidWebhookEvents,
    UnsafeWebhookUrl,
    check_webhook_url,
)
from ._worker import WebhookWorker, message_body

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "SECRET_PREFIX",
    "InvalidWebhookEndpoint",
    "InvalidWebhookEvents",
    "NewWebhookEndpoint",
    "RotatedWebhookSecret",
    "UnsafeWebhookUrl",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookVerificationError",
    "WebhookWorker",
    "Webhooks",
    "check_webhook_url",
    "generate_secret",
    "message_body",
    "sign",
    "signature_headers",
    "verify",
    "webhook_sealer",
]
