"""client-portal-core: an embeddable Client Portal API for FastAPI and Flask hosts.

Build one :class:`ClientPortal` with :class:`Settings` and a directory plugin
(``client_portal_find_recipient``), then mount it with
``client_portal_fastapi.create_router`` or ``client_portal_flask.ClientPortalFlask``.
"""

from __future__ import annotations

from .errors import (
    BulkJobBusy,
    ConfigurationError,
    InvalidInput,
    MailDeliveryError,
    MailDeliveryUncertain,
    MailServerUnavailable,
    PortalError,
)
from .events import ALL_EVENT_TYPES, INVITATION_SENT, TOKEN_ACCESSED, TOKEN_CREATED, DomainEvent
from .hooks import hookimpl
from .http import ROUTES, ApiRequest, HttpApi, HttpResponse, Route
from .mail import ConsoleMailer, Mailer, MemoryMailer, OutgoingEmail, SMTPMailer
from .schemas import (
    IssuedPortalToken,
    PortalConfig,
    PortalConfigUpdate,
    Recipient,
    SubjectType,
)
from .services import ClientPortal, InvitationResult, IssuedApiToken, PortalPage
from .settings import Settings
from .signals import invitation_sent, token_accessed, token_created
from .storage import InvitationRecord, StoredPortalToken, TokenStore
from .webhooks import (
    InvalidWebhookEndpoint,
    NewWebhookEndpoint,
    UnsafeWebhookUrl,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookVerificationError,
    WebhookWorker,
    verify,
)

__all__ = [
    "ALL_EVENT_TYPES",
    "INVITATION_SENT",
    "ROUTES",
    "TOKEN_ACCESSED",
    "TOKEN_CREATED",
    "ApiRequest",
    "BulkJobBusy",
    "ClientPortal",
    "ConfigurationError",
    "ConsoleMailer",
    "DomainEvent",
    "HttpApi",
    "HttpResponse",
    "InvalidInput",
    "InvalidWebhookEndpoint",
    "InvitationRecord",
    "InvitationResult",
    "IssuedApiToken",
    "IssuedPortalToken",
    "MailDeliveryError",
    "MailDeliveryUncertain",
    "MailServerUnavailable",
    "Mailer",
    "MemoryMailer",
    "NewWebhookEndpoint",
    "OutgoingEmail",
    "PortalConfig",
    "PortalConfigUpdate",
    "PortalError",
    "PortalPage",
    "Recipient",
    "Route",
    "SMTPMailer",
    "Settings",
    "StoredPortalToken",
    "SubjectType",
    "TokenStore",
    "UnsafeWebhookUrl",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookVerificationError",
    "WebhookWorker",
    "hookimpl",
    "invitation_sent",
    "token_accessed",
    "token_created",
    "verify",
]

__version__ = "0.1.0"
