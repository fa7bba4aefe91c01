"""API token scopes: read, invite, admin; checked after authentication and the rate limit."""

from __future__ import annotations

from typing import Any

import pytest

from client_portal_core import ClientPortal, hookimpl
from client_portal_core.scopes import OPERATION_SCOPES, ApiPrincipal, Scope
from conftest import API, TENANT_A, Directory, PortalClient

NO_INVITE = {"message": "This API token does not have the 'invite' scope"}
NO_ADMIN = {"message": "This API token does not have the 'admin' scope"}
NO_READ = {"message": "This API token does not have the 'read' scope"}


def scoped(client: PortalClient, *scopes: str) -> PortalClient:
    return client.as_token(client.portal.create_api_token(TENANT_A, "scoped", scopes).token)


def test_a_new_token_has_every_scope_by_default(portal: ClientPortal) -> None:
    issued = portal.create_api_token(TENANT_A)

    assert issued.scopes == ("read", "invite", "admin")
    assert portal.list_api_tokens(TENANT_A)[0].scopes == ("read", "invite", "admin")


def test_scopes_are_stored_in_canonical_order_without_repeats(portal: ClientPortal) -> None:
    issued = portal.create_api_token(TENANT_A, "ci", ["admin", "read", "admin"])

    assert issued.scopes == ("read", "admin")
    assert portal.authenticate_principal(issued.token).scopes == {Scope.READ, Scope.ADMIN}


@pytest.mark.parametrize("scopes", [[], ["write"], ["READ"]])
def test_an_unknown_or_empty_scope_list_is_refused(portal: ClientPortal, scopes: Any) -> None:
    with pytest.raises(ValueError, match="scope"):
        portal.create_api_token(TENANT_A, "bad", scopes)


def test_a_read_token_reads_the_configuration(client: PortalClient) -> None:
    reply = scoped(client, "read").get(f"{API}/config")

    assert reply.status == 200


def test_a_read_token_cannot_mint_a_token(client: PortalClient) -> None:
    reply = scoped(client, "read").post(f"{API}/token", json={"type": "contact", "id": 1})

    assert reply.status == 403
    assert reply.json() == NO_INVITE
    assert reply.headers["X-RateLimit-Remaining"]


def test_a_read_token_cannot_invite(client: PortalClient) -> None:
    reply = scoped(client, "read").post(f"{API}/contacts/1/invite")

    assert reply.status == 403
    assert reply.json() == NO_INVITE
    assert client.portal.list_invitations(TENANT_A) == []


def test_an_invite_token_cannot_read(client: PortalClient) -> None:
    reply = scoped(client, "invite").get(f"{API}/config")

    assert reply.status == 403
    assert reply.json() == NO_READ


def test_the_scope_is_checked_after_authentication(client: PortalClient) -> None:
    reply = client.as_token("cpk_unknown").post(f"{API}/token", json={"type": "contact", "id": 1})

    assert reply.status == 401


def test_the_scope_is_checked_after_the_rate_limit(make_portal: Any, make_client: Any) -> None:
    portal = make_portal(rate_limit="1/day")
    client = make_client(portal, portal.create_api_token(TENANT_A, "r", ["read"]).token)
    client.post(f"{API}/token", json={"type": "contact", "id": 1})

    reply = client.post(f"{API}/token", json={"type": "contact", "id": 1})

    assert reply.status == 429


def test_unknown_paths_need_no_scope(client: PortalClient) -> None:
    reply = scoped(client, "invite").get(f"{API}/nope")

    assert reply.status == 404


class ReadOnlyHostKeys:
    """A host plugin whose key grants only ``read``."""

    @hookimpl
    def client_portal_authenticate(self, api_key: str) -> Any:
        if api_key == "host-read-key":
            return ApiPrincipal(TENANT_A, frozenset({Scope.READ}))
        if api_key == "host-full-key":
            return TENANT_A
        return None


def test_a_host_key_returning_a_principal_gets_its_scopes(
    make_portal: Any, make_client: Any, directory: Directory
) -> None:
    portal = make_portal(plugins=(directory, ReadOnlyHostKeys()))
    client = make_client(portal, "host-read-key")

    assert client.get(f"{API}/config").status == 200
    denied = client.post(f"{API}/token", json={"type": "contact", "id": 1})
    assert denied.status == 403
    assert denied.json() == NO_INVITE


def test_a_host_key_returning_a_tenant_id_has_every_scope(
    make_portal: Any, make_client: Any, directory: Directory
) -> None:
    portal = make_portal(plugins=(directory, ReadOnlyHostKeys()))
    client = make_client(portal, "host-full-key")

    assert client.post(f"{API}/token", json={"type": "contact", "id": 1}).status == 200
    assert portal.authenticate("host-full-key") == TENANT_A


def test_every_routed_api_operation_has_a_scope() -> None:
    from client_portal_core.http import ROUTES

    operations = {route.operation for route in ROUTES if route.kind == "api"} - {"openapi"}

    assert operations <= set(OPERATION_SCOPES)


def test_every_get_operation_needs_read_and_no_other_does() -> None:
    from client_portal_core.http import ROUTES

    for route in ROUTES:
        if route.kind != "api" or route.operation == "openapi":
            continue
        needed = OPERATION_SCOPES[route.operation]
        assert (needed is Scope.READ) == (route.method == "GET"), route


def test_tokens_made_before_scopes_keep_every_scope_after_the_migration(tmp_path: Any) -> None:
    import sqlalchemy as sa

    from client_portal_core import migrate
    from client_portal_core.storage import create_engine_from_url

    engine = create_engine_from_url(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate.upgrade(engine, revision="cp0002")
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO client_portal_api_tokens (tenant_id, name, token_hash, hint, "
                "created_at) VALUES ('t', 'old', 'h', 'cpk_', '2030-01-01 00:00:00')"
            )
        migrate.upgrade(engine)
        with engine.connect() as conn:
            scopes = conn.execute(sa.text("SELECT scopes FROM client_portal_api_tokens")).scalar()
    finally:
        engine.dispose()

    assert scopes == "read invite admin"


def test_a_host_principal_with_no_scope_authenticates_and_is_refused_everything(
    make_portal: Any, make_client: Any, directory: Directory
) -> None:
    class NoScopes:
        @hookimpl
        def client_portal_authenticate(self, api_key: str) -> Any:
            return ApiPrincipal(TENANT_A, frozenset())

    portal = make_portal(plugins=(directory, NoScopes()))
    client = make_client(portal, "any-key")

    reply = client.get(f"{API}/config")

    assert reply.status == 403
    assert reply.json() == NO_READ
