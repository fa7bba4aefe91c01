"""API scopes: what an API token may do, and the one table of what each operation needs.

Three scopes: ``read`` (every ``GET``), ``invite`` (invitations, portal
tokens, revocation, regeneration, renewal, staff previews) and ``admin``
(the portal configuration and webhook endpoints). A library API token
carries any non-empty set of them (all three by default, and for every
token made before scopes existed).

:data:`OPERATION_SCOPES` maps every API operation name of the HTTP layer to
the scope it requires; the runner (:class:`~client_portal_core.http.HttpApi`)
checks it after the rate limit and authentication, and the OpenAPI document
states it per operation. No adapter knows about scopes.

A host's own ``client_portal_authenticate`` hook may return a tenant id (a
string: every scope) or an :class:`ApiPrincipal` naming the scopes of the key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "ALL_SCOPES",
    "OPERATION_SCOPES",
    "ApiPrincipal",
    "Scope",
    "as_principal",
    "parse_scopes",
]


class Scope(StrEnum):
    """One permission of an API token."""

    READ = "read"
    INVITE = "invite"
    ADMIN = "admin"


#: Every scope, in their canonical order (how tokens store and show them).
ALL_SCOPES: Final[tuple[Scope, ...]] = (Scope.READ, Scope.INVITE, Scope.ADMIN)


def parse_scopes(values: Iterable[str | Scope]) -> tuple[Scope, ...]:
    """The scopes named by ``values``, deduplicated, in canonical order.

    :raises ValueError: an unknown name, or no scope at all.
    """
    chosen: set[Scope] = set()
    for value in values:
        try:
            chosen.add(Scope(value))
        except ValueError:
            known = ", ".join(ALL_SCOPES)
            raise ValueError(f"unknown scope {value!r}; known: {known}") from None
    if not chosen:
        raise ValueError("an API token needs at least one scope")
    return tuple(scope for scope in ALL_SCOPES if scope in chosen)


@dataclass(frozen=True, slots=True)
class ApiPrincipal:
    """Who an API call speaks for: a tenant, and the scopes its key grants.

    Return one from a ``client_portal_authenticate`` hook to give a host key
    fewer than all scopes: ``ApiPrincipal("acme", frozenset({Scope.READ}))``.
    """

    tenant_id: str
    scopes: frozenset[Scope] = frozenset(ALL_SCOPES)

    def allows(self, scope: Scope) -> bool:
        """Whether the key grants ``scope``."""
        return scope in self.scopes


def as_principal(result: str | ApiPrincipal) -> ApiPrincipal:
    """An authentication hook's answer as a principal (a bare tenant id has every scope).

    A principal's scopes may be given as names; an empty set is allowed (the
    key authenticates, and every scoped operation answers 403).

    :raises ValueError: an unknown scope name (a bug of the hook).
    """
    if isinstance(result, ApiPrincipal):
        scopes = frozenset(Scope(scope) for scope in result.scopes)
        return ApiPrincipal(str(result.tenant_id), scopes)
    return ApiPrincipal(str(result))


#: The scope each API operation of the HTTP layer requires (``None``: none,
#: for the answers to paths and methods that name no operation). Operations
#: that are not routed yet are listed too, so they cannot be added unscoped.
OPERATION_SCOPES: Final[Mapping[str, Scope | None]] = MappingProxyType(
    {
        "get_config": Scope.READ,
        "update_config": Scope.ADMIN,
        "invite_contact": Scope.INVITE,
        "invite_company": Scope.INVITE,
        "create_token": Scope.INVITE,
        "revoke_token": Scope.INVITE,
        "preview_token": Scope.INVITE,
        "list_tokens": Scope.READ,
        "renew_tokens": Scope.INVITE,
        "list_invitations": Scope.READ,
        "retry_invitation": Scope.INVITE,
        "list_accesses": Scope.READ,
        "list_webhooks": Scope.READ,
        "create_webhook": Scope.ADMIN,
        "update_webhook": Scope.ADMIN,
        "delete_webhook": Scope.ADMIN,
        "list_webhook_deliveries": Scope.READ,
        "redeliver_webhook": Scope.ADMIN,
        "rotate_webhook_secret": Scope.ADMIN,
        "not_found": None,
        "method_not_allowed": None,
    }
)
