"""Self-service renewal on both adapters: "Email me a new link" on an expired link."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from client_portal_core import ClientPortal, invitation_sent, token_created
from client_portal_core.tokens import PortalTokenCodec
from conftest import PORTAL, SECRET_KEY, TENANT_A, FakeClock, PortalClient
from portal_helpers import form

RENEWED_TO = "ann@example.com"


@pytest.fixture
def portal(make_portal: Any, rate_limit_storage: str) -> Iterator[ClientPortal]:
    portal: ClientPortal = make_portal(rate_limit_storage=rate_limit_storage)
    limiter = portal.rate_limiter
    claimed: list[str] = []
    real_claim = limiter.claim

    def recording_claim(keys: list[str], expiry_seconds: int) -> bool:
        claimed.extend(keys)
        return real_claim(keys, expiry_seconds)

    limiter.claim = recording_claim  # type: ignore[method-assign]
    yield portal
    # Redis outlives the test: forget exactly the claims this test made.
    limiter.release(claimed)


def expired_link(portal: ClientPortal, clock: FakeClock) -> str:
    """Ann's link, expired."""
    token = portal.get_or_create_token(TENANT_A, "contact", 1).token
    clock.advance(days=31)
    return token


def renew(client: PortalClient, token: str, **options: Any) -> Any:
    return client.browser().post(f"{PORTAL}/{token}/renew", **options)


def outbox(portal: ClientPortal) -> list[Any]:
    return portal.mailer.outbox  # type: ignore[attr-defined,no-any-return]


def link_in(mail: Any) -> str:
    match = re.search(r"https://portal\.example\.test(/client-portal/[\w.-]+)", mail.text)
    assert match is not None
    return match.group(1)


def test_the_expired_link_page_offers_to_email_a_new_link(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    portal.update_config(TENANT_A, portal_name="Acme Hub")
    token = expired_link(portal, clock)

    page = client.browser().get(f"{PORTAL}/{token}")

    assert page.status == 410
    assert "Acme Hub" in page.text
    assert f'<form method="post" action="{PORTAL}/{token}/renew">' in page.text
    assert "Email me a new link" in page.text


def test_renewal_sends_a_fresh_invitation_to_the_directorys_address(
    client: PortalClient, portal: ClientPortal, clock: FakeClock, listen: Any
) -> None:
    token = expired_link(portal, clock)
    sent, created = listen(invitation_sent), listen(token_created)

    page = renew(client, token, **form(email="attacker@evil.example"))

    assert page.status == 200
    assert "a•••@example.com" in page.text
    assert RENEWED_TO not in page.text
    (mail,) = outbox(portal)
    assert mail.to == RENEWED_TO
    new_link = link_in(mail)
    assert token not in new_link
    assert [call["email"] for call in sent.calls] == [RENEWED_TO]
    assert len(created.calls) == 1
    (record,) = portal.list_invitations(TENANT_A)
    assert (record.status, record.email) == ("sent", RENEWED_TO)


def test_the_new_link_opens_the_portal(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    token = expired_link(portal, clock)
    renew(client, token)

    landed = client.browser().visit(link_in(outbox(portal)[0]))

    assert (landed.status, landed.path) == (200, f"{PORTAL}/")
    assert "Ann Archer" in landed.text


def test_renewal_goes_to_the_address_the_directory_has_now(
    client: PortalClient,
    portal: ClientPortal,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    directory_entries: Any,
) -> None:
    token = expired_link(portal, clock)
    monkeypatch.setitem(
        directory_entries[(TENANT_A, "contact")], "1", ("Ann Archer", "ann@new.example")
    )

    page = renew(client, token)

    assert "a•••@new.example" in page.text
    assert [mail.to for mail in outbox(portal)] == ["ann@new.example"]


def test_a_second_renewal_within_the_interval_is_a_429_page_and_sends_nothing(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    token = expired_link(portal, clock)
    assert renew(client, token).status == 200
    clock.advance(minutes=14)

    again = renew(client, token)

    assert again.status == 429
    assert again.headers["Content-Type"] == "text/html; charset=utf-8"
    assert 0 < int(again.headers["Retry-After"]) <= 2 * 15 * 60
    assert len(outbox(portal)) == 1


def test_renewal_is_possible_again_after_the_interval(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    token = expired_link(portal, clock)
    assert renew(client, token).status == 200
    new_token = link_in(outbox(portal)[0]).rsplit("/", 1)[1]
    clock.advance(days=31)  # the new link has expired too

    assert renew(client, new_token).status == 200
    assert len(outbox(portal)) == 2


def test_the_throttle_counts_per_subject_not_per_link(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    token = expired_link(portal, clock)
    assert renew(client, token).status == 200
    newer = link_in(outbox(portal)[0]).rsplit("/", 1)[1]
    portal.set_token_expiry(newer, clock.now)

    assert renew(client, newer).status == 429


def test_renewal_for_a_revoked_token_is_404_and_sends_nothing(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    issued = portal.get_or_create_token(TENANT_A, "contact", 1)
    portal.revoke_token(TENANT_A, issued.token_id)
    clock.advance(days=31)

    page = renew(client, issued.token)

    assert page.status == 404
    assert outbox(portal) == []
    assert portal.list_invitations(TENANT_A) == []


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("abc.def", id="tampered"),
        pytest.param(PortalTokenCodec([SECRET_KEY.encode()]).mint().token, id="signed-unknown"),
        pytest.param("x" * 300, id="very-long"),
    ],
)
def test_renewal_for_an_unknown_or_tampered_token_is_404_and_sends_nothing(
    client: PortalClient, portal: ClientPortal, token: str
) -> None:
    page = renew(client, token)

    assert page.status == 404
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert outbox(portal) == []


def test_renewal_of_a_valid_token_redirects_to_its_link(
    client: PortalClient, portal: ClientPortal
) -> None:
    token = portal.get_or_create_token(TENANT_A, "contact", 1).token

    page = renew(client, token)

    assert page.status == 303
    assert page.headers["Location"] == f"{PORTAL}/{token}"
    assert outbox(portal) == []


def test_renewal_for_a_subject_the_host_deleted_is_404(
    client: PortalClient,
    portal: ClientPortal,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    directory_entries: Any,
) -> None:
    token = expired_link(portal, clock)
    monkeypatch.delitem(directory_entries[(TENANT_A, "contact")], "1")

    assert renew(client, token).status == 404
    assert outbox(portal) == []


def test_renewal_can_be_switched_off(make_portal: Any, make_client: Any, clock: FakeClock) -> None:
    portal = make_portal(portal_renewal_enabled=False)
    client = make_client(portal)
    token = expired_link(portal, clock)

    page = client.browser().get(f"{PORTAL}/{token}")
    assert page.status == 410
    assert "Email me a new link" not in page.text
    assert renew(client, token).status == 404
    assert outbox(portal) == []


def test_a_failed_send_can_be_retried_at_once(
    make_portal: Any, make_client: Any, clock: FakeClock
) -> None:
    from client_portal_core import MemoryMailer

    mailer = MemoryMailer(fail_with="mailbox full")
    portal = make_portal(mailer=mailer)
    client = make_client(portal)
    token = expired_link(portal, clock)

    assert renew(client, token).status == 503
    mailer.fail_with = None

    assert renew(client, token).status == 200
