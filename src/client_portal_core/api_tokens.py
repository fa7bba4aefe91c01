"""API tokens: the credentials integrations use, each bound to one tenant, with scopes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import Unauthorized
from .scopes import ALL_SCOPES, ApiPrincipal, Scope, as_principal, parse_scopes
from .storage import ApiTokenStore, StoredApiToken
from .tokens import hash_api_token, new_api_token

__all__ = ["ApiTokens", "IssuedApiToken"]


@dataclass(frozen=True, slots=True)
class IssuedApiToken:
    """A new API token. ``token`` is shown this once and never stored."""

    id: int
    tenant_id: str
    name: str
    token: str = field(repr=False)
    #: What the token may do (``read``, ``invite``, ``admin``), canonical order.
    scopes: tuple[str, ...] = tuple(ALL_SCOPES)


class ApiTokens:
    """Creates, lists and revokes library API tokens; authenticates API keys.

    :param store: where token hashes are kept.
    :param hook: the portal's ``plugin_manager.hook`` (``client_portal_authenticate``).
    :param clock: the portal's clock.
    """

    def __init__(self, store: ApiTokenStore, hook: Any, clock: Callable[[], datetime]) -> None:
        self.store = store
        self._hook = hook
        self.clock = clock

    def create(
        self,
        tenant_id: str,
        name: str = "default",
        scopes: Iterable[str | Scope] | None = None,
    ) -> IssuedApiToken:
        """Create an API token bound to ``tenant_id``; only its hash is stored.

        :param scopes: what it may do; every scope by default.
        :raises ValueError: a bad tenant id, or an unknown or empty scope list.
        """
        if not tenant_id or len(tenant_id) > 64:
            raise ValueError("tenant_id must be 1 to 64 characters")
        chosen = tuple(
            str(scope) for scope in parse_scopes(ALL_SCOPES if scopes is None else scopes)
        )
        token = new_api_token()
        stored = self.store.add_api_token(
            tenant_id, name, hash_api_token(token), token[:8], self.clock(), chosen
        )
        return IssuedApiToken(
            id=stored.id, tenant_id=tenant_id, name=name, token=token, scopes=chosen
        )

    def list_tokens(self, tenant_id: str) -> list[StoredApiToken]:
        """The tenant's API tokens (hints only, never the tokens)."""
        return self.store.list_api_tokens(tenant_id)

    def revoke(self, tenant_id: str, token_id: int) -> bool:
        """Revoke an API token; False when the tenant has no such live token."""
        return self.store.revoke_api_token(tenant_id, token_id, self.clock())

    def principal(self, api_key: str | None) -> ApiPrincipal:
        """The tenant and scopes of an API key, through the ``client_portal_authenticate`` hook.

        A hook answering a tenant id string grants every scope; one answering
        an :class:`~client_portal_core.scopes.ApiPrincipal` grants its scopes.

        :raises Unauthorized: no key, or no plugin accepts it.
        """
        if not api_key:
            raise Unauthorized()
        found = self._hook.client_portal_authenticate(api_key=api_key)
        if not found:
            raise Unauthorized()
        principal = as_principal(found)
        if not principal.tenant_id:
            raise Unauthorized()
        return principal

    def authenticate(self, api_key: str | None) -> str:
        """The tenant of an API key (see :meth:`principal`).

        :raises Unauthorized: no key, or no plugin accepts it.
        """
        return self.principal(api_key).tenant_id
