"""Domain errors.

Every error that can reach an HTTP client is a :class:`PortalError` carrying
its HTTP status and its client-facing message, once, for every adapter. An
adapter never decides a status code or writes a message itself: it renders
:meth:`PortalError.body` with :attr:`PortalError.status`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ._i18n import N_

__all__ = [
    "BulkJobBusy",
    "ConfigurationError",
    "Conflict",
    "CsrfRejected",
    "InvalidInput",
    "InvalidRequest",
    "InvitationFailed",
    "InvitationRateLimited",
    "MailDeliveryError",
    "MailDeliveryUncertain",
    "MailServerUnavailable",
    "MethodNotAllowed",
    "MissingScope",
    "NotFound",
    "PayloadTooLarge",
    "PortalError",
    "PortalInactive",
    "PortalSignInRequired",
    "RateLimited",
    "RecipientHasNoEmail",
    "ServerError",
    "SubjectNotFound",
    "TokenExpired",
    "TokenInvalid",
    "TokenStoreLacksAbility",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationFailed",
]


class ConfigurationError(Exception):
    """The library was set up wrongly (bad settings, missing optional package).

    Raised at start-up, never in answer to a request.

    :param problems: for invalid settings, each setting at fault (its field
        name, e.g. ``"secret_keys"``) with what is wrong with it, so a command
        line can name its own option for the field.
    """

    def __init__(self, message: str, *, problems: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        #: Field name of each setting at fault, to its problem (may be empty).
        self.problems: dict[str, str] = dict(problems or {})


class PortalError(Exception):
    """Base class for errors that are answered to an HTTP client.

    Subclasses set :attr:`status`; the message is the exact text sent as
    ``{"message": ...}``. Messages never contain internals.
    """

    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "Server Error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return {"message": self.message}

    def headers(self) -> Mapping[str, str]:
        """Extra response headers that belong to this error."""
        return {}


class ServerError(PortalError):
    """An unexpected failure; the client sees only ``Server Error``."""

    status = 500


class Unauthorized(PortalError):
    """Missing, malformed, unknown or revoked API credentials."""

    status = 401
    default_message = "Unauthenticated."

    def headers(self) -> Mapping[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class InvalidRequest(PortalError):
    """A request body that is not JSON at all (malformed, wrong encoding)."""

    status = 400
    default_message = "Malformed JSON body"


class UnsupportedMediaType(PortalError):
    """A request body sent with a content type other than JSON."""

    status = 415
    default_message = "Content-Type must be application/json"


class PayloadTooLarge(PortalError):
    """A request body larger than ``Settings.max_body_bytes``."""

    status = 413
    default_message = "Request body too large"


class ValidationFailed(PortalError):
    """A JSON body that does not match the endpoint's schema.

    :param errors: field name (dotted for nested fields) to messages.
    """

    status = 422
    default_message = "The given data was invalid."

    def __init__(self, errors: Mapping[str, Sequence[str]], message: str | None = None) -> None:
        super().__init__(message)
        self.errors = {field: list(messages) for field, messages in errors.items()}

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "errors": self.errors}


class InvalidInput(ValidationFailed, ValueError):
    """A value given to the Python API that the library refuses (a
    ``custom_message`` with control characters, say).

    A ``ValueError`` for Python callers, and the same 422 as the HTTP API's
    for the field when it reaches an HTTP answer.

    :param field: the argument or body field refused.
    :param problem: what is wrong with it, as the HTTP API words it.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__({field: [problem]})
        self.field = field
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.field} {self.problem}"


class MethodNotAllowed(PortalError):
    """A known path called with a method it does not answer."""

    status = 405
    default_message = "Method Not Allowed"

    def __init__(self, allowed: str) -> None:
        super().__init__()
        self.allowed = allowed

    def headers(self) -> Mapping[str, str]:
        return {"Allow": self.allowed}


class MissingScope(PortalError):
    """The API token is valid but lacks the scope the operation requires.

    :param scope: the missing scope's name (``read``, ``invite`` or ``admin``).
    """

    status = 403

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__(f"This API token does not have the '{scope}' scope")


class Conflict(PortalError):
    """The request cannot be carried out in the current state of what it names."""

    status = 409
    default_message = "Conflict"


class NotFound(PortalError):
    """Something addressed by the request does not exist for this tenant."""

    status = 404
    default_message = "Not Found"


class BulkJobBusy(PortalError):
    """A bulk job is being run by another process (its run shows recent progress)."""

    status = 409
    default_message = "The bulk job is being run by another process"


class SubjectNotFound(NotFound):
    """The directory found no contact or company with that id in the tenant."""

    def __init__(self, subject_type: str, subject_id: str) -> None:
        self.subject_type = subject_type
        self.subject_id = subject_id
        super().__init__(f"{subject_type.capitalize()} not found")


class RecipientHasNoEmail(PortalError):
    """The contact or company exists but has no email address."""

    status = 400

    def __init__(self, subject_type: str, subject_id: str) -> None:
        self.subject_type = subject_type
        self.subject_id = subject_id
        super().__init__(f"{subject_type.capitalize()} does not have an email address")


class MailDeliveryError(Exception):
    """Raised by a :class:`~client_portal_core.mail.Mailer` that could not send.

    ``reason`` is short, human and safe to show to the API caller (no
    passwords, no stack traces); it becomes part of the 500 message.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class MailServerUnavailable(MailDeliveryError):
    """The mail server could not be reached, or refused the session (TLS, login,
    ``421``) before the message was handed over: nothing was sent, and every
    other message would fail alike until the server is back.

    A bulk run stops on it, leaving the job resumable.
    """


class MailDeliveryUncertain(MailDeliveryError):
    """The connection failed after the message had been handed over, before the
    server confirmed it: the email may or may not have been delivered.

    It is never sent again on its own; a bulk run reports it ``unknown``.
    """


class InvitationFailed(PortalError):
    """The invitation was recorded but the mailer failed to send it."""

    status = 500

    def __init__(self, reason: str, invitation_id: int | None = None) -> None:
        self.reason = reason
        self.invitation_id = invitation_id
        super().__init__(f"Failed to send portal invitation: {reason}")


class PortalInactive(PortalError):
    """The tenant switched its portal off (``is_active`` is false)."""

    status = 403
    default_message = N_("Client portal is not active")


class TokenInvalid(PortalError):
    """A portal token that is unknown, tampered with or revoked."""

    status = 404
    default_message = N_("This portal link is not valid.")


class TokenExpired(PortalError):
    """A portal token that was valid once and has expired."""

    status = 410
    default_message = N_("This portal link has expired.")


class TokenStoreLacksAbility(PortalError):
    """The configured token store does not offer an operation (an optional ability).

    Answered 501 with a message naming the operation; the log names the store.
    """

    status = 501

    def __init__(self, operation: str, store: str, ability: str) -> None:
        self.operation = operation
        self.store = store
        self.ability = ability
        super().__init__(f"The configured token store does not support {operation}")


class RateLimited(PortalError):
    """Too many requests for one API token in the current window."""

    status = 429
    default_message = "Too Many Requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = max(1, retry_after)

    def headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after)}


class PortalSignInRequired(PortalError):
    """A portal page (or a host page behind the portal) asked for without a live session.

    Raised by :meth:`~client_portal_core.portal_sessions.PortalSessions.current_client`.
    :attr:`page` is the rendered HTML page to answer with (status 401,
    branded when the session's tenant is known, clearing a dead cookie).

    :param tenant_id: the tenant of the ended session, when known (branding).
    :param ended: True when a session existed and has just ended (revoked
        token, expired, subject gone, portal off), False when there was none.
    """

    status = 401
    default_message = "You are not signed in to this portal."

    def __init__(
        self, message: str | None = None, *, tenant_id: str | None = None, ended: bool = False
    ) -> None:
        super().__init__(message)
        self.tenant_id = tenant_id
        self.ended = ended
        #: The HTML page to answer with (a ``PortalPage``), set by the session service.
        self.page: Any = None


class CsrfRejected(PortalError):
    """A state-changing portal form posted without its session's CSRF field."""

    status = 403
    default_message = "This form has expired. Please go back, reload the page and try again."


class InvitationRateLimited(RateLimited):
    """One subject was sent too many invitations in the window (``Settings.invite_limit``).

    :param subject_type: ``contact`` or ``company``.
    :param subject_id: the subject's id.
    :param retry_after: seconds until it may be invited again.
    """

    def __init__(self, subject_type: str, subject_id: str, retry_after: int) -> None:
        super().__init__(retry_after)
        self.subject_type = subject_type
        self.subject_id = subject_id
        self.message = (
            f"Too many invitations for {subject_type} {subject_id}; "
            f"try again in {self.retry_after} seconds"
        )
        self.args = (self.message,)
