"""Failed credentials are throttled per client address: bogus API keys (401)
and bogus or unknown portal links (404) count, from one address, against
``failed_credential_limit``; past it the address gets 429 (JSON on the API, an
HTML page on the portal path) with ``Retry-After``. Only failures count, and
another address's failures never slow a client."""

from __future__ import annotations

from typing import Any

import pytest

from client_portal_core import ClientPortal, ConfigurationError, Settings
from client_portal_core.http import ApiRequest, HttpApi
from conftest import API, PORTAL, TENANT_A, PortalClient


@pytest.fixture
def guarded(make_portal: Any, rate_limit_storage: str) -> ClientPortal:
    # A day-long window: a test never straddles a window boundary.
    return make_portal(  # type: ignore[no-any-return]
        failed_credential_limit="5/day", rate_limit_storage=rate_limit_storage
    )


@pytest.fixture
def guarded_client(guarded: ClientPortal, make_client: Any) -> PortalClient:
    return make_client(guarded, None)  # type: ignore[no-any-return]


def test_bogus_api_keys_from_one_address_get_429_past_the_limit(
    guarded_client: PortalClient,
) -> None:
    replies = [guarded_client.get(f"{API}/config", auth=f"Bearer cpk_bogus{n}") for n in range(7)]

    assert [r.status for r in replies] == [401] * 5 + [429] * 2
    refused = replies[-1]
    assert refused.json() == {"message": "Too Many Requests"}
    assert refused.headers["Content-Type"] == "application/json"
    assert 0 < int(refused.headers["Retry-After"]) <= 24 * 3600
    assert "X-RateLimit-Remaining" in refused.headers


def test_a_throttled_address_is_refused_before_its_key_is_tried(
    guarded: ClientPortal, guarded_client: PortalClient
) -> None:
    valid = guarded.create_api_token(TENANT_A).token
    for n in range(5):
        guarded_client.get(f"{API}/config", auth=f"Bearer cpk_bogus{n}")

    # A guess that happens to be right gets the same 429: nothing to learn.
    assert guarded_client.get(f"{API}/config", auth=f"Bearer {valid}").status == 429


def test_bogus_portal_links_from_one_address_get_a_429_page_past_the_limit(
    guarded_client: PortalClient,
) -> None:
    replies = [guarded_client.get(f"{PORTAL}/not-a-token-{n}") for n in range(7)]

    assert [r.status for r in replies] == [404] * 5 + [429] * 2
    assert replies[-1].headers["Content-Type"] == "text/html; charset=utf-8"
    assert 0 < int(replies[-1].headers["Retry-After"]) <= 24 * 3600


def test_api_and_portal_failures_share_the_address_budget(
    guarded: ClientPortal, guarded_client: PortalClient
) -> None:
    unknown = guarded.get_or_create_token(TENANT_A, "contact", 1)
    guarded.revoke_token(TENANT_A, unknown.token_id)  # a genuine but revoked link: 404
    for n in range(3):
        guarded_client.get(f"{API}/config", auth=f"Bearer cpk_bogus{n}")
    guarded_client.get(f"{PORTAL}/{unknown.token}")
    guarded_client.get(f"{PORTAL}/garbage")

    assert guarded_client.get(f"{PORTAL}/garbage").status == 429
    assert guarded_client.get(f"{API}/config", auth="Bearer cpk_more").status == 429


def test_only_failures_count(guarded: ClientPortal, guarded_client: PortalClient) -> None:
    valid = guarded.create_api_token(TENANT_A).token
    link = guarded.get_or_create_token(TENANT_A, "contact", 1).token
    for _ in range(10):
        assert guarded_client.get(f"{API}/config", auth=f"Bearer {valid}").status == 200
    for _ in range(3):
        assert guarded_client.get(f"{PORTAL}/{link}").status == 303  # opens: signed in

    statuses = [
        guarded_client.get(f"{API}/config", auth=f"Bearer cpk_bogus{n}").status for n in range(5)
    ]

    assert statuses == [401] * 5


def request_from(address: str, authorization: str) -> ApiRequest:
    return ApiRequest(authorization=authorization, client_ip=address)


def test_another_addresss_failures_never_slow_a_client(guarded: ClientPortal) -> None:
    api = HttpApi(guarded)
    valid = guarded.create_api_token(TENANT_A).token
    for n in range(20):
        api.handle("get_config", request_from("203.0.113.66", f"Bearer cpk_bogus{n}"))

    mine = api.handle("get_config", request_from("198.51.100.7", f"Bearer {valid}"))
    my_mistake = api.handle("get_config", request_from("198.51.100.7", "Bearer cpk_typo"))
    theirs = api.handle("get_config", request_from("203.0.113.66", f"Bearer {valid}"))

    assert (mine.status, my_mistake.status, theirs.status) == (200, 401, 429)


def test_the_limit_can_be_switched_off(make_portal: Any, make_client: Any) -> None:
    portal = make_portal(failed_credential_limit="off")
    client = make_client(portal, None)

    statuses = {client.get(f"{API}/config", auth=f"Bearer cpk_x{n}").status for n in range(150)}

    assert statuses == {401}
    assert portal.settings.failed_credential_limit is None


def test_the_default_is_generous_and_on() -> None:
    settings = Settings.build(secret_key="k" * 32)

    assert settings.failed_credential_limit == "100/minute"


@pytest.mark.parametrize("value", ["lots", "5/fortnight"])
def test_an_invalid_limit_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigurationError, match="failed_credential_limit"):
        Settings.build(secret_key="k" * 32, failed_credential_limit=value)
