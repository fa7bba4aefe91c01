"""Configuration of a :class:`~client_portal_core.ClientPortal`.

All settings live in one model so that hosts, the example command lines and
the tests configure the library the same way. Every field can also be read
from the environment with :meth:`Settings.from_env` (``CLIENT_PORTAL_`` +
the upper-cased field name; lists are comma separated).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Any

from limits import parse as parse_rate_limit
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigurationError

__all__ = ["ENV_PREFIX", "PLUGIN_ENV_PREFIX", "Settings"]

#: Prefix of the environment variables read by :meth:`Settings.from_env`.
ENV_PREFIX = "CLIENT_PORTAL_"

#: Prefix of plugins' own variables (see :class:`~client_portal_core.plugins.PluginSettings`).
PLUGIN_ENV_PREFIX = ENV_PREFIX + "PLUGIN_"
#: Fields with their own way in from the environment.
_NOT_FROM_ENV = frozenset({"plugins", "plugin_environment"})

_MIN_KEY_LENGTH = 16


class Settings(BaseModel):
    """Every knob of the library, with production-safe defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret_keys: list[SecretStr] = Field(
        description=(
            "Keys that sign portal tokens and seal stored secrets, oldest first; "
            "the last one signs. Append a new key to rotate; old tokens keep working "
            "while their key stays in the list."
        ),
    )
    database_url: str = Field(
        "sqlite:///client_portal.db",
        repr=False,  # may carry the database password
        description="SQLAlchemy URL; SQLite file by default.",
    )
    table_prefix: str = Field("client_portal_", pattern=r"^[a-z][a-z0-9_]{0,30}$")
    public_url: str = Field(
        "http://127.0.0.1:8000", description="Base URL that portal links start with."
    )
    api_prefix: str = Field("/api/v1/client-portal", pattern=r"^(/[A-Za-z0-9._~-]+)+$")
    portal_path: str = Field("/client-portal", pattern=r"^(/[A-Za-z0-9._~-]+)+$")
    rate_limit: str = Field("60/minute", description="limits notation, per API token.")
    portal_rate_limit: str = Field(
        "30/minute",
        description=(
            "Portal page views per portal link (limits notation); more answer a 429 page, "
            "so one leaked link cannot flood the access log and the webhook outbox."
        ),
    )
    portal_session_max_age_seconds: int = Field(
        12 * 3600,
        ge=60,
        le=30 * 24 * 3600,
        description=(
            "Longest life of a portal session (the signed-in browser after a link was "
            "opened); it also ends with its token, on revocation, when the directory "
            "loses the subject and when the portal is switched off."
        ),
    )
    portal_renewal_enabled: bool = Field(
        True,
        description=(
            "Offer 'Email me a new link' on the expired-link page: a fresh invitation "
            "to the address the directory has now."
        ),
    )
    portal_renewal_interval_seconds: int = Field(
        15 * 60,
        ge=1,
        le=7 * 24 * 3600,
        description=(
            "At most one self-service renewal per subject within this many seconds "
            "(counted in the rate-limit storage, so across processes)."
        ),
    )
    failed_credential_limit: str | None = Field(
        "100/minute",
        description=(
            "Failed credentials per client address (limits notation): unknown API keys "
            "(401) and unknown, tampered or revoked portal links (404) count; past it the "
            "address gets 429 before its credential is even tried. 'off' (or None) "
            "switches it off. Only failures count."
        ),
    )
    invite_limit: str | None = Field(
        None,
        description=(
            "Invitations per subject (limits notation, e.g. '3/hour'), whichever API token "
            "asks; past it the invite answers 429 naming the subject. None: no limit."
        ),
    )
    rate_limit_storage: str = Field(
        "memory://",
        repr=False,  # may carry the Redis password
        description="limits storage URI: memory://, redis://host:port/db ...",
    )
    rate_limit_fail_open: bool = Field(
        True,
        description=(
            "When the rate-limit storage is unreachable: True lets requests through "
            "(logged), False answers 503."
        ),
    )
    smtp_url: str | None = Field(
        None,
        repr=False,  # may carry the SMTP password
        description=(
            "smtp://[user:pass@]host:port[?starttls=true&timeout=10], or smtps:// for "
            "implicit TLS. None prints mail to the console."
        ),
    )
    mail_from: str = Field(
        "Client Portal <no-reply@localhost>",
        description=(
            "Sender of invitations. Its address is the From address (the display name "
            "is the tenant's portal_name) and its domain names the Message-IDs."
        ),
    )
    template_dirs: list[str] = Field(
        default_factory=list,
        description="Folders searched before the built-in templates (override by name).",
    )
    locale_dirs: list[str] = Field(
        default_factory=list,
        description=(
            "Folders of gettext catalogs (<locale>/LC_MESSAGES/client_portal.mo) searched "
            "before the built-in ones: add a language, or override built-in texts."
        ),
    )
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    load_entry_points: bool = Field(
        True, description="Register plugins found in the client_portal entry-point group."
    )
    disabled_plugins: list[str] = Field(
        default_factory=list,
        description=(
            "Entry-point plugins not to load, by entry-point name (see `client-portal plugins`)."
        ),
    )
    plugins: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        repr=False,  # may carry a plugin's API key
        description=(
            "Each plugin's own settings by its settings name, e.g. "
            '{"http_mailer": {"api_url": "..."}}; validated by the plugin\'s '
            "PluginSettings model at start-up."
        ),
    )
    plugin_environment: dict[str, str] = Field(
        default_factory=dict,
        repr=False,  # may carry a plugin's API key
        description=(
            "CLIENT_PORTAL_PLUGIN_<NAME>_<FIELD> variables without their prefix, as read "
            "by from_env; values in `plugins` win over them."
        ),
    )
    config_cache_seconds: float = Field(
        5.0,
        ge=0,
        description=(
            "How long a process reuses a tenant's portal configuration it has read "
            "(0: read it on every use). Changes made through update_config apply at "
            "once in the process that makes them, within this time in the others."
        ),
    )
    reissue_within_days: int = Field(
        7,
        ge=0,
        le=365,
        description=(
            "An invitation (first, resent, retried, bulk) to a subject whose current token "
            "expires within this many days first mints a fresh token (the old link stays "
            "valid until it expires), so no email carries a link about to stop. Capped at "
            "half the tenant's token_expiration_days; 0 switches it off."
        ),
    )
    webhook_retry_schedule: list[float] = Field(
        default_factory=lambda: [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0],
        min_length=1,
        description=(
            "Seconds to wait before each webhook delivery attempt, the first one included "
            "(its length is the number of attempts); each wait gets +-10% jitter."
        ),
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Timeout of one webhook HTTP request."
    )
    webhook_lease_seconds: float = Field(
        60.0,
        gt=0,
        description=(
            "How long a worker owns the deliveries it claimed; a crashed worker's "
            "deliveries are retried after it. Must exceed webhook_timeout_seconds."
        ),
    )
    webhook_secret_grace_seconds: float = Field(
        86400.0,
        ge=0,
        description=(
            "After a webhook endpoint's secret is rotated, the old secret signs every "
            "delivery too (two signatures in webhook-signature) for this long, so "
            "receivers can switch without dropping a message."
        ),
    )
    webhook_allow_private_urls: bool = Field(
        False,
        description=(
            "Allow webhook URLs on loopback, private, link-local or metadata addresses. "
            "Only for local development and tests: it opens the door to SSRF."
        ),
    )

    @field_validator("secret_keys")
    @classmethod
    def _check_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        if not keys:
            raise ValueError("at least one secret key is required")
        for key in keys:
            if len(key.get_secret_value()) < _MIN_KEY_LENGTH:
                raise ValueError(f"each secret key needs at least {_MIN_KEY_LENGTH} characters")
        return keys

    @field_validator("rate_limit", "portal_rate_limit", "invite_limit")
    @classmethod
    def _check_rate_limit(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parse_rate_limit(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '60/minute': {value!r}") from exc
        return value

    @field_validator("mail_from")
    @classmethod
    def _check_mail_from(cls, value: str) -> str:
        _name, address = parseaddr(value)
        if "\r" in value or "\n" in value or "@" not in address or " " in address:
            raise ValueError("must be an address like 'Name <no-reply@example.com>'")
        return value

    @field_validator("failed_credential_limit", mode="before")
    @classmethod
    def _check_failed_credential_limit(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off")):
            return None
        if isinstance(value, str):
            try:
                parse_rate_limit(value)
            except ValueError as exc:
                raise ValueError(f"not a rate limit like '100/minute' or 'off': {value!r}") from exc
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _check_retry_schedule(cls, schedule: list[float]) -> list[float]:
        if any(delay < 0 for delay in schedule):
            raise ValueError("webhook retry delays cannot be negative")
        return schedule

    @model_validator(mode="after")
    def _check_webhook_lease(self) -> Settings:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("webhook_lease_seconds must exceed webhook_timeout_seconds")
        return self

    def key_bytes(self) -> list[bytes]:
        """The secret keys as bytes, oldest first."""
        return [key.get_secret_value().encode() for key in self.secret_keys]

    @classmethod
    def build(cls, **values: Any) -> Settings:
        """Validate ``values`` and raise :class:`ConfigurationError` on a bad setting.

        A single ``secret_key`` is accepted as a shorthand for ``secret_keys``.
        """
        if "secret_key" in values:
            values["secret_keys"] = [values.pop("secret_key")]
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            # Never echo the input: it may hold secret keys or SMTP passwords.
            problems: dict[str, str] = {}
            for error in exc.errors(include_input=False, include_url=False):
                field = ".".join(str(part) for part in error["loc"]) or "settings"
                message = str(error["msg"]).removeprefix("Value error, ")
                problems[field] = f"{problems[field]}; {message}" if field in problems else message
            listed = "; ".join(f"{field}: {message}" for field, message in problems.items())
            raise ConfigurationError(
                f"invalid client portal settings: {listed}", problems=problems
            ) from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from ``CLIENT_PORTAL_*`` variables; ``overrides`` win.

        ``CLIENT_PORTAL_PLUGIN_*`` variables go to :attr:`plugin_environment`,
        where each plugin's :class:`~client_portal_core.plugins.PluginSettings`
        finds its own.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            if name in _NOT_FROM_ENV:
                continue
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is None:
                continue
            annotation = str(field.annotation)
            values[name] = (
                [part for part in raw.split(",") if part] if "list" in annotation else raw
            )
        if "secret_keys" not in values and (single := env.get(ENV_PREFIX + "SECRET_KEY")):
            values["secret_keys"] = [single]
        values["plugin_environment"] = {
            name.removeprefix(PLUGIN_ENV_PREFIX): value
            for name, value in env.items()
            if name.startswith(PLUGIN_ENV_PREFIX)
        }
        values.update(overrides)
        return cls.build(**values)
