"""The optional per-subject invitation limit: ``invite_limit`` (limits notation,
off by default) caps how often one contact or company is sent an invitation,
whichever API token asks; past it, 429 with ``Retry-After`` and a message
naming the subject."""

from __future__ import annotations

from typing import Any

import pytest

from client_portal_core import ClientPortal, ConfigurationError, Settings
from client_portal_core.errors import InvitationRateLimited
from conftest import API, TENANT_A, PortalClient
from support import run_host_cli


@pytest.fixture
def capped(make_portal: Any, rate_limit_storage: str) -> ClientPortal:
    return make_portal(  # type: ignore[no-any-return]
        invite_limit="2/day", rate_limit_storage=rate_limit_storage
    )


@pytest.fixture
def capped_client(capped: ClientPortal, make_client: Any) -> PortalClient:
    return make_client(capped, capped.create_api_token(TENANT_A).token)  # type: ignore[no-any-return]


def test_it_is_off_by_default(client: PortalClient, portal: ClientPortal) -> None:
    statuses = [client.post(f"{API}/contacts/1/invite").status for _ in range(5)]

    assert statuses == [200] * 5
    assert portal.settings.invite_limit is None


def test_past_the_limit_an_invite_is_429_naming_the_subject(
    capped: ClientPortal, capped_client: PortalClient
) -> None:
    replies = [capped_client.post(f"{API}/contacts/1/invite") for _ in range(3)]

    assert [r.status for r in replies] == [200, 200, 429]
    refused = replies[2]
    assert refused.json()["message"].startswith("Too many invitations for contact 1")
    assert 0 < int(refused.headers["Retry-After"]) <= 24 * 3600
    assert "X-RateLimit-Remaining" in refused.headers
    assert len(capped.list_invitations(TENANT_A)) == 2  # the refused one is not recorded


def test_the_limit_is_per_subject_and_shared_by_every_api_token(
    capped: ClientPortal, capped_client: PortalClient, make_client: Any
) -> None:
    other_token = make_client(capped, capped.create_api_token(TENANT_A).token)
    capped_client.post(f"{API}/contacts/1/invite")
    capped_client.post(f"{API}/contacts/1/invite")

    assert other_token.post(f"{API}/contacts/1/invite").status == 429
    assert capped_client.post(f"{API}/companies/10/invite").status == 200
    assert capped_client.post(f"{API}/contacts/c-7f3e/invite").status == 200


def test_the_python_api_raises_the_same_error(capped: ClientPortal) -> None:
    capped.invite(TENANT_A, "company", 10)
    capped.invite(TENANT_A, "company", 10)

    with pytest.raises(InvitationRateLimited) as refused:
        capped.invite(TENANT_A, "company", 10)

    assert refused.value.status == 429
    assert "company 10" in refused.value.message
    assert int(refused.value.headers()["Retry-After"]) > 0


def test_an_invalid_limit_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="invite_limit"):
        Settings.build(secret_key="k" * 32, invite_limit="often")


@pytest.mark.subprocess
@pytest.mark.parametrize("module", ["examples.fastapi_host", "examples.flask_host"])
def test_the_example_hosts_take_invite_limit(module: str) -> None:
    bad = run_host_cli(module, "serve", "--port", "1", "--invite-limit", "often")
    helped = run_host_cli(module, "serve", "--help")

    assert bad.returncode == 2
    assert "--invite-limit" in bad.stderr
    assert "--invite-limit" in helped.stdout
