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
    PortalSignInRequired,
)
from .events import (
    ALL_EVENT_TYPES,
    INVITATION_FAILED,
    INVITATION_SENT,
    TOKEN_ACCESSED,
    TOKEN_CREATED,
    TOKEN_REVOKED,
    DomainEvent,
)
from .hooks import hookimpl
from .http import ROUTES, ApiRequest, HttpApi, HttpResponse, Route
from .mail import (
    ConsoleMailer,
    Mailer,
    MemoryMailer,
    OutgoingEmail,
    SMTPMailer,
)
from .mail_outbox import OutboxDirectoryMailer
from .portal_models import PortalClient, PortalItem
from .schemas import (
    IssuedPortalToken,
    PortalConfig,
    PortalConfigUpdate,
    Recipient,
    SubjectType,
)
from .scopes import ApiPrincipal, Scope
from .services import ClientPortal, InvitationResult, IssuedApiToken, PortalPage
from .settings import Settings
from .signals import (
    invitation_failed,
    invitation_sent,
    token_accessed,
    token_created,
    token_revoked,
)
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
    "INVITATION_FAILED",
    "INVITATION_SENT",
    "ROUTES",
    "TOKEN_ACCESSED",
    "TOKEN_CREATED",
    "TOKEN_REVOKED",
    "ApiPrincipal",
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
    "OutboxDirectoryMailer",
    "OutgoingEmail",
    "PortalClient",
    "PortalConfig",
    "PortalConfigUpdate",
    "PortalError",
    "PortalItem",
    "PortalPage",
    "PortalSignInRequired",
    "Recipient",
    "Route",
    "SMTPMailer",
    "Scope",
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
    "invitation_failed",
    "invitation_sent",
    "token_accessed",
    "token_created",
    "token_revoked",
    "verify",
]

__version__ = "0.1.0"
