"""Pydantic models of the Client Portal API: requests, responses, configuration.

These models are the single source of the HTTP contract: the adapters validate
with them and the OpenAPI document is generated from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from .validation import (
    CUSTOM_MESSAGE_PATTERN,
    MAX_CUSTOM_MESSAGE_LENGTH,
    MAX_INTEGER_SUBJECT_ID,
    MAX_SUBJECT_ID_LENGTH,
    MIN_INTEGER_SUBJECT_ID,
    SUBJECT_ID_PATTERN,
    check_custom_message,
    check_subject_id,
)

__all__ = [
    "COLOR_PATTERN",
    "DEFAULT_MODULES",
    "EMAIL_ADDRESS_PATTERN",
    "KNOWN_MODULES",
    "LOCALES_CONTEXT",
    "LOCALE_PATTERN",
    "LOGO_PATTERN",
    "ConfigResponse",
    "ErrorResponse",
    "InstalledLocales",
    "InviteRequest",
    "InviteResponse",
    "IssuedPortalToken",
    "PortalConfig",
    "PortalConfigUpdate",
    "Recipient",
    "SubjectType",
    "TokenRequest",
    "TokenResponse",
    "ValidationErrorResponse",
    "format_utc",
    "installed_locale",
    "unknown_locale_message",
    "utc_now",
]

#: Portal modules a tenant may enable. Unknown names are rejected.
KNOWN_MODULES: frozenset[str] = frozenset(
    {"invoices", "proposals", "tasks", "projects", "files", "estimates", "contracts", "tickets"}
)
#: Modules enabled for a tenant that never configured its portal.
DEFAULT_MODULES: tuple[str, ...] = ("invoices", "proposals", "tasks")

_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")
_MODULE_NAMES: tuple[JsonValue, ...] = tuple(sorted(KNOWN_MODULES))
#: The JSON Schema patterns of what the validators below accept (the OpenAPI
#: document describes every rule the server applies, so a schema-driven client
#: generates only what is accepted).
# Each ends in ``(?![\s\S])``, not ``$``, which Python's ``re`` also matches
# before a final line feed (the server refuses ``"#FFFFFF\n"``).
COLOR_PATTERN = r"^#[0-9A-Fa-f]{6}(?![\s\S])"
LOGO_PATTERN = r"^(https://|http://|/)"


class SubjectType(StrEnum):
    """What a portal token is for: one of the host's contacts or companies."""

    CONTACT = "contact"
    COMPANY = "company"


def utc_now() -> datetime:
    """The current time, aware UTC; the default clock everywhere in the library."""
    return datetime.now(UTC)


def format_utc(moment: datetime) -> str:
    """Render an aware datetime as ISO 8601 UTC with a ``Z`` suffix, to the second."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the library only handles aware UTC datetimes")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: A host's contact or company id: an integer (its decimal form) or a string,
#: passed to the directory exactly as sent (see :mod:`.validation`).
SubjectId = Annotated[
    str,
    BeforeValidator(check_subject_id),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "integer",
                    "minimum": MIN_INTEGER_SUBJECT_ID,
                    "maximum": MAX_INTEGER_SUBJECT_ID,
                },
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_SUBJECT_ID_LENGTH,
                    "pattern": SUBJECT_ID_PATTERN,
                },
            ],
            "description": (
                "The host's id: an integer, or 1 to 64 characters without control or "
                "bidirectional formatting characters and without whitespace at either end. "
                "The directory receives it exactly as sent (an integer as its decimal form)."
            ),
        }
    ),
]


def _check_color(value: str) -> str:
    if not _COLOR.fullmatch(value):
        raise ValueError("must be a #RRGGBB hex color")
    return value.upper()


#: An ASCII address: a local part without spaces or specials, an ``@``, a dotted domain.
_EMAIL_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}"
    r"@(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
#: What ``str.strip()`` removes, spelled out: ``\\s`` differs between Python
#: and ECMA-262 (JSON Schema) regular expressions.
_WHITESPACE = (
    "[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
)
#: :data:`_EMAIL_ADDRESS` as a JSON Schema pattern: whitespace around it is
#: stripped, and no ``..`` anywhere.
EMAIL_ADDRESS_PATTERN = (
    f"^(?![\\s\\S]*\\.\\.){_WHITESPACE}*[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.-]{{1,64}}"
    f"@(?=[A-Za-z0-9.-]{{1,253}}{_WHITESPACE}*(?![\\s\\S]))"
    f"([A-Za-z0-9]([A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\\.)+[A-Za-z]{{2,63}}{_WHITESPACE}*(?![\\s\\S])"
)
#: A language tag as the catalogs name them: ``de``, ``de_AT``, ``pt-BR``, ``zh_Hant``.
LOCALE_PATTERN = r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8}){0,2}$"
#: Validation context key: the installed locales a ``locale`` field must name.
LOCALES_CONTEXT = "client_portal_locales"


def _check_email_address(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > 254 or not _EMAIL_ADDRESS.fullmatch(value) or ".." in value:
        raise ValueError("must be an email address like help@example.com")
    return value


class InstalledLocales(Protocol):
    """What validation needs to know of the installed catalogs (the :class:`Renderer`)."""

    @property
    def locales(self) -> tuple[str, ...]:
        """The installed locales."""
        ...

    def match_locale(self, *tags: str | None) -> str | None:
        """The installed locale a tag asks for, or ``None``."""
        ...


def installed_locale(value: str | None, info: ValidationInfo) -> str | None:
    """Check ``value`` against the installed catalogs when validation is given them.

    With ``context={LOCALES_CONTEXT: renderer}`` (an :class:`InstalledLocales`)
    the value must match an installed locale (``de-AT`` matches ``de``) and
    becomes that catalog's name; without it, only its shape is checked.
    """
    if value is None:
        return None
    catalogs: InstalledLocales | None = (info.context or {}).get(LOCALES_CONTEXT)
    if catalogs is None:
        return value
    match = catalogs.match_locale(value)
    if match is None:
        raise ValueError(unknown_locale_message(value, catalogs.locales))
    return match


def unknown_locale_message(value: str, available: tuple[str, ...]) -> str:
    """The validation message of a locale with no installed catalog."""
    return f"unknown locale {value!r}; available: {', '.join(available)}"


def _check_modules(value: list[str]) -> list[str]:
    unknown = sorted(set(value) - KNOWN_MODULES)
    if unknown:
        raise ValueError(
            f"unknown module(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_MODULES))}"
        )
    # Keep the caller's order, drop repeats.
    return list(dict.fromkeys(value))


class PortalConfig(BaseModel):
    """A tenant's portal configuration, exactly as ``GET /config`` returns it."""

    # Frozen: one instance may be shared from the configuration cache.
    model_config = ConfigDict(extra="forbid", frozen=True)

    portal_name: str = Field("Client Portal", min_length=1, max_length=120)
    portal_logo: str | None = Field(
        None,
        max_length=2048,
        description="URL of the logo image (http(s) or an absolute path)",
        json_schema_extra={"pattern": LOGO_PATTERN},
    )
    primary_color: str = Field(
        "#3B82F6", description="#RRGGBB", json_schema_extra={"pattern": COLOR_PATTERN}
    )
    secondary_color: str = Field(
        "#1E40AF", description="#RRGGBB", json_schema_extra={"pattern": COLOR_PATTERN}
    )
    welcome_message: str | None = Field("Welcome to your client portal.", max_length=2000)
    enabled_modules: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MODULES),
        json_schema_extra={"items": {"type": "string", "enum": [*_MODULE_NAMES]}},
    )
    is_active: bool = True
    allow_file_sharing: bool = True
    show_activity_feed: bool = True
    token_expiration_days: int = Field(30, ge=1, le=365)
    reply_to: str | None = Field(
        None,
        max_length=254,
        description="Reply-To address of the tenant's emails, or none",
        json_schema_extra={"pattern": EMAIL_ADDRESS_PATTERN},
    )
    locale: str | None = Field(
        None,
        max_length=35,
        pattern=LOCALE_PATTERN,
        description=(
            "Language of the tenant's emails and pages (an installed catalog, e.g. de), "
            "unless an invitation names one; none: the browser's Accept-Language"
        ),
    )

    _colors = field_validator("primary_color", "secondary_color")(_check_color)
    _modules = field_validator("enabled_modules")(_check_modules)
    _reply_to = field_validator("reply_to")(_check_email_address)
    _locale = field_validator("locale")(installed_locale)

    @field_validator("portal_logo")
    @classmethod
    def _check_logo(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://", "/")):
            raise ValueError("must be an http(s) URL or an absolute path")
        return value


def _describe_as_partial_config(schema: dict[str, Any]) -> None:
    """Each property of an update is described by :class:`PortalConfig`'s own rule.

    An update is validated by applying it to the configuration, so a field
    accepts exactly what the configuration's field accepts (``null`` only where
    the configuration allows none), and nothing is required.
    """
    config = PortalConfig.model_json_schema()["properties"]
    schema["properties"] = {
        name: {key: value for key, value in config[name].items() if key != "default"}
        for name in schema["properties"]
    }


class PortalConfigUpdate(BaseModel):
    """A partial change to a :class:`PortalConfig`; fields left unset keep their value.

    Booleans and integers are strict (``true``, not ``"yes"`` or ``1``), as the
    OpenAPI document says.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_describe_as_partial_config)

    portal_name: str | None = None
    portal_logo: str | None = None
    primary_color: str | None = None
    secondary_color: str | None = None
    welcome_message: str | None = None
    enabled_modules: list[str] | None = None
    is_active: bool | None = Field(None, strict=True)
    allow_file_sharing: bool | None = Field(None, strict=True)
    show_activity_feed: bool | None = Field(None, strict=True)
    token_expiration_days: int | None = Field(None, strict=True)
    reply_to: str | None = None
    locale: str | None = None

    def apply_to(
        self, config: PortalConfig, *, context: dict[str, Any] | None = None
    ) -> PortalConfig:
        """Return a validated copy of ``config`` with this update's set fields applied.

        :param context: pydantic validation context; with :data:`LOCALES_CONTEXT`
            a ``locale`` must name an installed catalog.
        """
        merged = config.model_dump()
        merged.update(self.model_dump(exclude_unset=True))
        return PortalConfig.model_validate(merged, context=context)


class InviteRequest(BaseModel):
    """Body of ``POST /contacts/{id}/invite`` and ``POST /companies/{id}/invite``."""

    custom_message: str | None = Field(
        None,
        description=(
            "Plain text added to the email; never markup. Line breaks and tabs are kept; "
            "control characters and bidirectional formatting characters are refused."
        ),
        json_schema_extra={
            "maxLength": MAX_CUSTOM_MESSAGE_LENGTH,
            "pattern": CUSTOM_MESSAGE_PATTERN,
        },
    )
    locale: str | None = Field(
        None,
        max_length=35,
        pattern=LOCALE_PATTERN,
        description=(
            "Language of the email and of the portal pages of its link (an installed "
            "catalog, e.g. de); default: the tenant's locale"
        ),
    )

    _locale = field_validator("locale")(installed_locale)

    # The rule every door applies (HTTP, Python API, bulk jobs, the CLI).
    _check_message = field_validator("custom_message")(check_custom_message)


class TokenRequest(BaseModel):
    """Body of ``POST /token``."""

    type: SubjectType
    id: SubjectId
    regenerate: bool = Field(
        False,
        strict=True,  # true or false only: "yes" must not revoke a client's link
        description=(
            "Revoke every token of the subject and mint a new one, in one step "
            "(requires the `invite` scope, like every call of this endpoint)."
        ),
    )


class InviteResponse(BaseModel):
    """Success body of the invite endpoints."""

    message: Literal["Portal invitation sent successfully"] = "Portal invitation sent successfully"
    token: str


class TokenResponse(BaseModel):
    """Success body of ``POST /token``."""

    token: str
    url: str
    expires_at: str = Field(description="ISO 8601 UTC, e.g. 2026-12-24T10:00:00Z")


class ConfigResponse(BaseModel):
    """Success body of ``GET /config``."""

    data: PortalConfig


class ErrorResponse(BaseModel):
    """Body of every error response."""

    message: str


class ValidationErrorResponse(BaseModel):
    """Body of a 422 response: the message and the messages per field."""

    message: str
    errors: dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class Recipient:
    """A host contact or company, as the directory hook returns it.

    :param id: the host's id, as a string.
    :param name: display name used in the invitation.
    :param email: address to invite, or ``None`` when the host has none.
    """

    id: str
    name: str
    email: str | None


@dataclass(frozen=True, slots=True)
class IssuedPortalToken:
    """A usable portal token as returned to the host, never stored as such.

    :param token: the signed token string to put in links.
    :param url: the full portal URL (``public_url`` + portal path + token).
    :param expires_at: aware UTC expiry.
    :param token_id: the database id of the token row (safe to log).
    :param created: whether this call created the token.
    """

    token: str = field(repr=False)
    url: str = field(repr=False)
    expires_at: datetime
    token_id: int
    created: bool

    def to_response(self) -> TokenResponse:
        """The ``POST /token`` body for this token."""
        return TokenResponse(token=self.token, url=self.url, expires_at=format_utc(self.expires_at))
