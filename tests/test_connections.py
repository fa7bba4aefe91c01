"""Connection handling: no pooled connection outlives a request, under concurrent load.

Every operation of the HTTP contract, successful or failing, runs from many
threads at once; afterwards the engine's pool has no connection checked out.
The adapters never touch the database, so the core's ``HttpApi`` is driven
directly (the adapter suites cover translation).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from client_portal_core import ApiRequest, ClientPortal, HttpApi
from conftest import TENANT_A, PortalFactory


def _requests(api_token: str, portal_token: str) -> list[tuple[str, ApiRequest]]:
    bearer = f"Bearer {api_token}"
    body = json.dumps({"type": "contact", "id": 1}).encode()
    return [
        ("get_config", ApiRequest(authorization=bearer)),
        ("get_config", ApiRequest(authorization="Bearer cpk_unknown")),
        ("create_token", ApiRequest(bearer, body, "application/json")),
        ("create_token", ApiRequest(bearer, b"{bad", "application/json")),
        ("invite_contact", ApiRequest(bearer, path_params={"id": "1"})),
        ("invite_contact", ApiRequest(bearer, path_params={"id": "2"})),  # no email: 400
        ("invite_company", ApiRequest(bearer, path_params={"id": "404"})),
        ("open_portal", ApiRequest(path_params={"token": portal_token})),
        ("open_portal", ApiRequest(path_params={"token": portal_token + "x"})),
    ]


def test_no_connection_is_left_checked_out_after_concurrent_requests(
    make_portal: PortalFactory,
) -> None:
    portal: ClientPortal = make_portal(rate_limit="100000/minute")
    api = HttpApi(portal)
    api_token = portal.create_api_token(TENANT_A).token
    portal_token = portal.get_or_create_token(TENANT_A, "contact", 1).token
    work = _requests(api_token, portal_token) * 30

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda job: api.handle(*job).status, work))

    assert set(statuses) == {200, 303, 400, 401, 404}
    pool_ = portal.engine.pool
    assert isinstance(pool_, sa.pool.QueuePool)
    assert pool_.checkedout() == 0


def test_one_pooled_connection_is_enough_for_every_operation(make_portal: PortalFactory) -> None:
    # No operation may hold a connection while it checks out another one:
    # with a one-connection pool that would wait out the pool timeout.
    from client_portal_core import MemoryMailer, Settings
    from client_portal_core.storage import create_engine_from_url
    from conftest import SECRET_KEY

    engine = create_engine_from_url(
        make_portal.database_url, pool_size=1, max_overflow=0, pool_timeout=2
    )
    try:
        portal = ClientPortal(
            Settings.build(
                secret_keys=[SECRET_KEY],
                database_url=make_portal.database_url,
                load_entry_points=False,
                config_cache_seconds=0,
            ),
            plugins=[make_portal.directory],
            engine=engine,
            mailer=MemoryMailer(),
        )
        portal.create_schema()
        api_token = portal.create_api_token(TENANT_A).token
        issued = portal.get_or_create_token(TENANT_A, "contact", 1)
        statuses = [api.status for api in (
            HttpApi(portal).handle(operation, request)
            for operation, request in _requests(api_token, issued.token)
        )]  # fmt: skip
        portal.update_config(TENANT_A, portal_name="Pool of one")
        portal.retry_invitation(TENANT_A, portal.list_invitations(TENANT_A)[0].id)
    finally:
        engine.dispose()

    assert set(statuses) == {200, 303, 400, 401, 404}


def test_the_host_session_factory_shares_its_engine(make_portal: PortalFactory) -> None:
    from sqlalchemy.orm import sessionmaker

    from client_portal_core import ConfigurationError, MemoryMailer, Settings
    from conftest import SECRET_KEY

    host_engine = sa.create_engine(make_portal.database_url)
    settings = Settings.build(
        secret_keys=[SECRET_KEY],
        database_url="sqlite:///must-not-be-used.db",
        load_entry_points=False,
    )
    try:
        portal = ClientPortal(
            settings,
            plugins=[make_portal.directory],
            session_factory=sessionmaker(bind=host_engine),
            mailer=MemoryMailer(),
        )
        portal.create_schema()

        assert portal.engine is host_engine
        assert portal.get_or_create_token(TENANT_A, "contact", 1).token
        with pytest.raises(ConfigurationError):
            ClientPortal(settings, plugins=[make_portal.directory], session_factory=sessionmaker())
    finally:
        host_engine.dispose()
