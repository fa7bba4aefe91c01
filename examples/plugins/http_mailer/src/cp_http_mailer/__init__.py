"""A client-portal-core mailer plugin that sends through an HTTP email API.

Installed, it is found through its ``client_portal`` entry point
(``http_mailer``) and configured by the portal's settings::

    CLIENT_PORTAL_PLUGIN_HTTP_MAILER_API_URL=https://api.mail.example/v1/messages
    CLIENT_PORTAL_PLUGIN_HTTP_MAILER_API_KEY=...
    CLIENT_PORTAL_PLUGIN_HTTP_MAILER_TIMEOUT=10        # optional, seconds

or ``Settings.build(plugins={"http_mailer": {"api_url": ..., "api_key": ...}})``.
Each email is one ``POST`` of ``{"from", "to", "subject", "text", "html"}``
with ``Authorization: Bearer <api_key>``; any 2xx is delivered.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from client_portal_core import (
    MailDeliveryError,
    MailDeliveryUncertain,
    MailServerUnavailable,
    OutgoingEmail,
    Settings,
    hookimpl,
)
from client_portal_core.plugins import PluginSettings

__all__ = ["HttpApiMailer", "HttpMailerPlugin", "HttpMailerSettings", "plugin"]

__version__ = "0.1.0"


class HttpMailerSettings(PluginSettings):
    """The plugin's settings (``CLIENT_PORTAL_PLUGIN_HTTP_MAILER_<FIELD>``)."""

    plugin_name: ClassVar[str] = "http_mailer"

    api_url: str = Field(pattern=r"^https?://", description="The API's send endpoint.")
    api_key: SecretStr = Field(description="Sent as a Bearer token; never logged.")
    timeout: float = Field(10.0, gt=0, le=120, description="Seconds per request.")


class HttpApiMailer:
    """Sends one email per ``POST``; safe to use from many threads (one pooled client).

    Failures are classified the way bulk runs need them: nothing reached the
    API (connection refused, 502/503/504, 429) is :class:`MailServerUnavailable`;
    the request went out but no answer came back is
    :class:`MailDeliveryUncertain`; any other refusal is a
    :class:`MailDeliveryError`. Reasons never carry the key or the body.
    """

    def __init__(self, api_url: str, api_key: str, *, timeout: float = 10.0) -> None:
        self.api_url = api_url
        self._client = httpx.Client(timeout=timeout, headers={"Authorization": f"Bearer {api_key}"})

    def __repr__(self) -> str:
        return f"HttpApiMailer({self.api_url!r})"

    def send(self, email: OutgoingEmail) -> None:
        """POST the email to the API."""
        payload: dict[str, Any] = {
            "from": email.sender,
            "to": email.to,
            "subject": email.subject,
            "text": email.text,
            "html": email.html,
        }
        try:
            answer = self._client.post(self.api_url, json=payload)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise MailServerUnavailable("could not reach the email API") from exc
        except (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise MailDeliveryUncertain(
                "the email API did not answer after taking the message; it may have been delivered"
            ) from exc
        except httpx.HTTPError as exc:
            raise MailDeliveryError(f"the email API request failed ({type(exc).__name__})") from exc
        if answer.is_success:
            return
        if answer.status_code in (429, 502, 503, 504):
            raise MailServerUnavailable(f"the email API is unavailable (HTTP {answer.status_code})")
        raise MailDeliveryError(f"the email API refused the message (HTTP {answer.status_code})")

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


class HttpMailerPlugin:
    """The plugin: provides an :class:`HttpApiMailer` built from its settings."""

    client_portal_settings = HttpMailerSettings

    @hookimpl
    def client_portal_mailer(self, settings: Settings) -> HttpApiMailer:
        """The mailer, from ``HttpMailerSettings``."""
        config = HttpMailerSettings.from_settings(settings)
        return HttpApiMailer(
            config.api_url, config.api_key.get_secret_value(), timeout=config.timeout
        )


#: What the entry point names.
plugin = HttpMailerPlugin()
