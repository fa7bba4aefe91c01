"""The management API (DESIGN.md "Management API"): configuration, revocation,
regeneration, the token and invitation lists, retries; on both adapters and databases."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from client_portal_core import (
    INVITATION_FAILED,
    TOKEN_REVOKED,
    ClientPortal,
    invitation_failed,
    token_revoked,
)
from conftest import API, PORTAL, TENANT_A, TENANT_B, FakeClock, PortalClient, SmtpServer

NO_ADMIN = {"message": "This API token does not have the 'admin' scope"}
NO_INVITE = {"message": "This API token does not have the 'invite' scope"}
TOKEN_FIELDS = [
    "token_id",
    "type",
    "subject_id",
    "status",
    "current",
    "created_at",
    "expires_at",
    "revoked_at",
    "renewed_at",
    "last_accessed_at",
    "access_count",
]
INVITATION_FIELDS = [
    "invitation_id",
    "type",
    "subject_id",
    "kind",
    "email",
    "status",
    "error",
    "created_at",
    "sent_at",
]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def scoped(client: PortalClient, *scopes: str) -> PortalClient:
    return client.as_token(client.portal.create_api_token(TENANT_A, "scoped", scopes).token)


def token_of(client: PortalClient, kind: str = "contact", subject: Any = 1, **extra: Any) -> Any:
    reply = client.post(f"{API}/token", json={"type": kind, "id": subject, **extra})
    assert reply.status == 200, reply.body
    return reply.json()


def patch(client: PortalClient, path: str, body: Any) -> Any:
    return client.request("PATCH", path, json=body)


def opens(client: PortalClient, token: str) -> int:
    """The portal link's status, with every answer of a working link read as 200
    (the portal answers a page, or a redirect to its session)."""
    status = client.get(f"{PORTAL}/{token}").status
    return 200 if status in (200, 303) else status


def every_page(client: PortalClient, path: str, **params: Any) -> list[list[Any]]:
    """Every page of a list, following next_cursor."""
    pages, cursor = [], None
    while True:
        query = "&".join(f"{k}={v}" for k, v in {**params, "cursor": cursor}.items() if v)
        reply = client.get(f"{path}?{query}")
        assert reply.status == 200, reply.body
        pages.append(reply.json()["data"])
        cursor = reply.json()["next_cursor"]
        if cursor is None:
            return pages


# -- PATCH /config ------------------------------------------------------------------


def test_patch_config_changes_the_given_fields_and_answers_the_whole_config(
    client: PortalClient,
) -> None:
    reply = patch(client, f"{API}/config", {"portal_name": "Acme Hub", "primary_color": "#ff5500"})

    assert reply.status == 200
    data = reply.json()["data"]
    assert data["portal_name"] == "Acme Hub"
    assert data["primary_color"] == "#FF5500"
    assert data["secondary_color"] == "#1E40AF"
    assert client.get(f"{API}/config").json() == {"data": data}


def test_patch_config_validates_every_field_like_update_config(client: PortalClient) -> None:
    reply = patch(
        client,
        f"{API}/config",
        {"primary_color": "red", "token_expiration_days": 0, "enabled_modules": ["chat"]},
    )

    assert reply.status == 422
    errors = reply.json()["errors"]
    assert set(errors) == {"primary_color", "token_expiration_days", "enabled_modules"}
    assert errors["primary_color"] == ["must be a #RRGGBB hex color"]
    assert client.get(f"{API}/config").json()["data"]["primary_color"] == "#3B82F6"


def test_patch_config_refuses_unknown_fields(client: PortalClient) -> None:
    reply = patch(client, f"{API}/config", {"portal_name": "X", "colour": "#000000"})

    assert reply.status == 422
    assert list(reply.json()["errors"]) == ["colour"]
    assert client.get(f"{API}/config").json()["data"]["portal_name"] == "Client Portal"


def test_patch_config_with_malformed_json_is_400(client: PortalClient) -> None:
    reply = client.request(
        "PATCH", f"{API}/config", body=b'{"portal_name":', content_type="application/json"
    )

    assert reply.status == 400


@pytest.mark.parametrize("scopes", [("read",), ("invite",), ("read", "invite")])
def test_patch_config_needs_the_admin_scope(client: PortalClient, scopes: Any) -> None:
    reply = patch(scoped(client, *scopes), f"{API}/config", {"portal_name": "Nope"})

    assert reply.status == 403
    assert reply.json() == NO_ADMIN
    assert client.portal.get_config(TENANT_A).portal_name == "Client Portal"


def test_patch_config_changes_only_the_callers_tenant(
    client: PortalClient, api_token_b: str
) -> None:
    patch(client, f"{API}/config", {"portal_name": "Only A"})

    other = client.as_token(api_token_b).get(f"{API}/config").json()["data"]
    assert other["portal_name"] == "Client Portal"


def test_patched_lifetime_applies_to_the_next_token(client: PortalClient, clock: FakeClock) -> None:
    patch(client, f"{API}/config", {"token_expiration_days": 3})

    assert token_of(client)["expires_at"] == iso(clock.now + timedelta(days=3))


# -- POST /token/revoke -------------------------------------------------------------


def test_revoke_answers_the_count_and_the_link_is_404_at_once(client: PortalClient) -> None:
    old = token_of(client)["token"]
    assert opens(client, old) == 200

    reply = client.post(f"{API}/token/revoke", json={"type": "contact", "id": 1})

    assert reply.status == 200
    assert reply.json() == {"message": "Portal access revoked", "revoked": 1}
    assert opens(client, old) == 404


def test_after_a_revocation_the_next_token_is_a_new_one(client: PortalClient) -> None:
    old = token_of(client)["token"]
    client.post(f"{API}/token/revoke", json={"type": "contact", "id": 1})

    new = token_of(client)["token"]

    assert new != old
    assert opens(client, new) == 200


def test_revoke_revokes_every_token_of_the_subject_renewed_ones_too(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    old = token_of(client)["token"]
    clock.advance(days=29)
    portal.renew_expiring_tokens(7, TENANT_A)
    new = token_of(client)["token"]
    assert opens(client, old) == opens(client, new) == 200

    reply = client.post(f"{API}/token/revoke", json={"type": "contact", "id": 1})

    assert reply.json()["revoked"] == 2
    assert opens(client, old) == opens(client, new) == 404


def test_revoke_without_tokens_revokes_none(client: PortalClient) -> None:
    reply = client.post(f"{API}/token/revoke", json={"type": "company", "id": 10})

    assert reply.status == 200
    assert reply.json()["revoked"] == 0


def test_revoke_of_an_unknown_subject_is_404(client: PortalClient) -> None:
    reply = client.post(f"{API}/token/revoke", json={"type": "contact", "id": 999})

    assert reply.status == 404
    assert reply.json() == {"message": "Contact not found"}


def test_revoke_of_another_tenants_subject_is_404_and_leaves_it_alone(
    client: PortalClient, api_token_b: str
) -> None:
    theirs = token_of(client.as_token(api_token_b), "contact", 3)["token"]

    reply = client.post(f"{API}/token/revoke", json={"type": "contact", "id": 3})

    assert reply.status == 404
    assert opens(client, theirs) == 200


def test_revoke_validates_its_body(client: PortalClient) -> None:
    reply = client.post(f"{API}/token/revoke", json={"type": "person"})

    assert reply.status == 422
    assert set(reply.json()["errors"]) == {"type", "id"}


def test_revoke_needs_the_invite_scope(client: PortalClient) -> None:
    old = token_of(client)["token"]

    reply = scoped(client, "read", "admin").post(
        f"{API}/token/revoke", json={"type": "contact", "id": 1}
    )

    assert reply.status == 403
    assert reply.json() == NO_INVITE
    assert opens(client, old) == 200


@pytest.mark.portal(webhook_allow_private_urls=True)
def test_revoke_writes_token_revoked_to_the_outbox_and_signals_it(
    client: PortalClient, portal: ClientPortal, listen: Any, clock: FakeClock
) -> None:
    heard = listen(token_revoked)
    portal.add_webhook_endpoint(TENANT_A, "http://127.0.0.1:9/hook")
    issued = token_of(client)

    client.post(f"{API}/token/revoke", json={"type": "contact", "id": 1})

    (call,) = heard.calls
    assert call["subject_id"] == "1"
    assert call["revoked_at"] == clock.now
    types = [d.event_type for d in portal.list_webhook_deliveries(TENANT_A)]
    assert TOKEN_REVOKED in types
    assert issued["token"] not in str(heard.calls)


# -- POST /token with regenerate ----------------------------------------------------


def test_regenerate_answers_a_different_working_token_and_the_old_is_404(
    client: PortalClient,
) -> None:
    old = token_of(client)["token"]

    new = token_of(client, regenerate=True)["token"]

    assert new != old
    assert opens(client, new) == 200
    assert opens(client, old) == 404


def test_after_regenerate_token_returns_the_new_token(client: PortalClient) -> None:
    token_of(client)
    new = token_of(client, regenerate=True)

    assert token_of(client) == new


def test_regenerate_leaves_one_current_token(client: PortalClient, portal: ClientPortal) -> None:
    token_of(client)
    token_of(client, regenerate=True)
    token_of(client, regenerate=True)

    rows = portal.management.list_tokens(TENANT_A, subject_type="contact", subject_id="1").items
    assert [row.current for row in rows] == [True, False, False]
    assert [row.status(portal.clock()) for row in rows] == ["active", "revoked", "revoked"]


def test_regenerate_of_an_unknown_subject_is_404(client: PortalClient) -> None:
    reply = client.post(f"{API}/token", json={"type": "contact", "id": 999, "regenerate": True})

    assert reply.status == 404


def test_regenerate_must_be_a_boolean(client: PortalClient) -> None:
    reply = client.post(f"{API}/token", json={"type": "contact", "id": 1, "regenerate": "yes"})

    assert reply.status == 422
    assert list(reply.json()["errors"]) == ["regenerate"]


def test_regenerate_needs_the_invite_scope(client: PortalClient) -> None:
    reply = scoped(client, "read").post(
        f"{API}/token", json={"type": "contact", "id": 1, "regenerate": True}
    )

    assert reply.status == 403


# -- GET /tokens ----------------------------------------------------------------------


def test_tokens_list_items_have_the_documented_fields(
    client: PortalClient, clock: FakeClock
) -> None:
    issued = token_of(client)
    client.get(f"{PORTAL}/{issued['token']}")

    reply = client.get(f"{API}/tokens")

    assert reply.status == 200
    assert reply.json()["next_cursor"] is None
    (item,) = reply.json()["data"]
    assert list(item) == TOKEN_FIELDS
    assert item["type"] == "contact"
    assert item["subject_id"] == "1"
    assert item["status"] == "active"
    assert item["current"] is True
    assert item["created_at"] == iso(clock.now)
    assert item["expires_at"] == issued["expires_at"]
    assert item["last_accessed_at"] == iso(clock.now)
    assert item["access_count"] == 1


def test_tokens_list_never_contains_a_usable_token(client: PortalClient) -> None:
    token = token_of(client)["token"]

    body = client.get(f"{API}/tokens").text

    assert token not in body
    assert token.split(".")[0] not in body


def test_tokens_list_filters_by_status(client: PortalClient, clock: FakeClock) -> None:
    token_of(client, "contact", 1)
    token_of(client, "contact", "c-7f3e")
    client.post(f"{API}/token/revoke", json={"type": "contact", "id": "c-7f3e"})
    clock.advance(days=31)
    token_of(client, "company", 10)

    def subjects(status: str) -> list[str]:
        return [
            item["subject_id"]
            for item in client.get(f"{API}/tokens?status={status}").json()["data"]
        ]

    assert subjects("active") == ["10"]
    assert subjects("expired") == ["1"]
    assert subjects("revoked") == ["c-7f3e"]


def test_tokens_list_filters_by_subject(client: PortalClient) -> None:
    token_of(client, "contact", 1)
    token_of(client, "company", 10)

    data = client.get(f"{API}/tokens?type=company&id=10").json()["data"]

    assert [(item["type"], item["subject_id"]) for item in data] == [("company", "10")]


def test_tokens_list_finds_the_tokens_expiring_soon(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    token_of(client, "contact", 1)
    clock.advance(days=20)
    token_of(client, "company", 10)

    data = client.get(f"{API}/tokens?expiring_within_days=10").json()["data"]

    assert [item["subject_id"] for item in data] == ["1"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("status=lost", "status"),
        ("type=person", "type"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("expiring_within_days=-1", "expiring_within_days"),
        ("cursor=forged", "cursor"),
        ("colour=blue", "colour"),
        ("status=active&status=revoked", "status"),
    ],
)
def test_tokens_list_refuses_a_bad_parameter_by_name(
    client: PortalClient, query: str, parameter: str
) -> None:
    reply = client.get(f"{API}/tokens?{query}")

    assert reply.status == 422
    assert list(reply.json()["errors"]) == [parameter]


def test_tokens_list_needs_the_read_scope(client: PortalClient) -> None:
    reply = scoped(client, "invite", "admin").get(f"{API}/tokens")

    assert reply.status == 403


def test_tokens_list_shows_only_the_callers_tenant(client: PortalClient, api_token_b: str) -> None:
    token_of(client.as_token(api_token_b), "contact", 3)

    assert client.get(f"{API}/tokens").json()["data"] == []


def test_a_cursor_of_another_tenant_is_refused(client: PortalClient, api_token_b: str) -> None:
    for subject in (1, "c-7f3e"):
        token_of(client, "contact", subject)
    cursor = client.get(f"{API}/tokens?limit=1").json()["next_cursor"]
    assert cursor

    reply = client.as_token(api_token_b).get(f"{API}/tokens?cursor={cursor}")

    assert reply.status == 422
    assert list(reply.json()["errors"]) == ["cursor"]


SUBJECTS_A = [
    ("contact", "1"),
    ("contact", "2"),
    ("contact", "c-7f3e"),
    ("contact", "shared-1"),
    ("company", "10"),
    ("company", "11"),
    ("company", "co-acme-2"),
]


def test_tokens_pages_lose_and_repeat_nothing_while_new_tokens_arrive(
    client: PortalClient,
) -> None:
    for kind, subject in SUBJECTS_A[:5]:
        token_of(client, kind, subject)
    seen: list[int] = []
    cursor = None
    arriving = iter(SUBJECTS_A[5:])
    while True:
        query = f"limit=2&cursor={cursor}" if cursor else "limit=2"
        page = client.get(f"{API}/tokens?{query}").json()
        assert len(page["data"]) <= 2
        seen += [item["token_id"] for item in page["data"]]
        cursor = page["next_cursor"]
        new = next(arriving, None)
        if new is not None:
            token_of(client, *new)  # a row added between two pages
        if cursor is None:
            break

    assert len(seen) == len(set(seen)) == 5
    assert seen == sorted(seen, reverse=True)
    latest = [item["token_id"] for item in client.get(f"{API}/tokens").json()["data"]]
    assert latest[2:] == seen  # the two newcomers lead the list, newest first


def test_tokens_default_limit_is_50(client: PortalClient, portal: ClientPortal) -> None:
    for _round in range(9):
        for kind, subject in SUBJECTS_A:
            portal.regenerate_token(TENANT_A, kind, subject)

    pages = every_page(client, f"{API}/tokens")

    assert [len(page) for page in pages] == [50, 13]


# -- GET /invitations and retry -------------------------------------------------------


def test_invitations_list_items_have_the_documented_fields(
    client: PortalClient, clock: FakeClock
) -> None:
    client.post(f"{API}/contacts/1/invite")

    reply = client.get(f"{API}/invitations")

    assert reply.status == 200
    (item,) = reply.json()["data"]
    assert list(item) == INVITATION_FIELDS
    assert item["type"] == "contact"
    assert item["subject_id"] == "1"
    assert item["kind"] == "invitation"
    assert item["email"] == "ann@example.com"
    assert item["status"] == "sent"
    assert item["error"] is None
    assert item["created_at"] == item["sent_at"] == iso(clock.now)


def test_invitations_list_filters_by_subject_and_status(client: PortalClient) -> None:
    client.post(f"{API}/contacts/1/invite")
    client.post(f"{API}/companies/10/invite")

    by_subject = client.get(f"{API}/invitations?type=company&id=10").json()["data"]
    failed = client.get(f"{API}/invitations?status=failed").json()["data"]

    assert [item["email"] for item in by_subject] == ["billing@acme.example"]
    assert failed == []


def test_invitations_list_refuses_an_unknown_status(client: PortalClient) -> None:
    reply = client.get(f"{API}/invitations?status=bounced")

    assert reply.status == 422
    assert list(reply.json()["errors"]) == ["status"]


def test_invitations_list_shows_only_the_callers_tenant(
    client: PortalClient, api_token_b: str
) -> None:
    client.as_token(api_token_b).post(f"{API}/contacts/3/invite")

    assert client.get(f"{API}/invitations").json()["data"] == []


def test_invitation_pages_lose_and_repeat_nothing_while_new_ones_arrive(
    client: PortalClient,
) -> None:
    for _ in range(5):
        client.post(f"{API}/contacts/1/invite")
    first = client.get(f"{API}/invitations?limit=3").json()
    client.post(f"{API}/contacts/1/invite")
    second = client.get(f"{API}/invitations?limit=3&cursor={first['next_cursor']}").json()

    ids = [item["invitation_id"] for item in first["data"] + second["data"]]
    assert len(ids) == len(set(ids)) == 5
    assert second["next_cursor"] is None


@pytest.mark.portal(smtp=True)
def test_retry_sends_a_failed_invitation_again(
    client: PortalClient, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.refuse_rcpt = "550 5.1.1 Mailbox unavailable"
    assert client.post(f"{API}/contacts/1/invite").status == 500
    (failed,) = client.get(f"{API}/invitations?status=failed").json()["data"]
    assert failed["error"] == "the mail server refused the recipient"
    smtp_server.handler.refuse_rcpt = None

    reply = client.post(f"{API}/invitations/{failed['invitation_id']}/retry")

    assert reply.status == 200
    assert reply.json()["message"] == "Portal invitation sent successfully"
    assert len(smtp_server.handler.messages) == 1
    (item,) = client.get(f"{API}/invitations").json()["data"]
    assert item["status"] == "sent"


@pytest.mark.portal(smtp=True)
def test_retry_failing_again_is_500_with_the_reason(
    client: PortalClient, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.refuse_rcpt = "550 5.1.1 Mailbox unavailable"
    client.post(f"{API}/contacts/1/invite")
    (failed,) = client.get(f"{API}/invitations").json()["data"]

    reply = client.post(f"{API}/invitations/{failed['invitation_id']}/retry")

    assert reply.status == 500
    assert reply.json()["message"].startswith("Failed to send portal invitation: ")


@pytest.mark.portal(smtp=True, webhook_allow_private_urls=True)
def test_a_failed_invitation_writes_invitation_failed_and_signals_it(
    client: PortalClient, portal: ClientPortal, smtp_server: SmtpServer, listen: Any
) -> None:
    heard = listen(invitation_failed)
    portal.add_webhook_endpoint(TENANT_A, "http://127.0.0.1:9/hook")
    smtp_server.handler.refuse_rcpt = "550 5.1.1 Mailbox unavailable"

    client.post(f"{API}/contacts/1/invite")

    (call,) = heard.calls
    assert call["subject_type"] == "contact"
    assert call["error"] == "the mail server refused the recipient"
    types = [d.event_type for d in portal.list_webhook_deliveries(TENANT_A)]
    assert types == [INVITATION_FAILED, "client_portal.token_created"]


def test_retry_of_an_unknown_invitation_is_404(client: PortalClient) -> None:
    for path in ("999", "abc", "0", "-1"):
        reply = client.post(f"{API}/invitations/{path}/retry")
        assert reply.status == 404, path
        assert reply.json() == {"message": "Invitation not found"}


def test_retry_of_another_tenants_invitation_is_404_not_403(
    client: PortalClient, api_token_b: str, portal: ClientPortal
) -> None:
    client.as_token(api_token_b).post(f"{API}/contacts/3/invite")
    (theirs,) = portal.list_invitations(TENANT_B)

    reply = client.post(f"{API}/invitations/{theirs.id}/retry")

    assert reply.status == 404
    assert len(portal.mailer.outbox) == 1  # type: ignore[attr-defined]


def test_retry_needs_the_invite_scope(client: PortalClient, portal: ClientPortal) -> None:
    client.post(f"{API}/contacts/1/invite")
    (record,) = portal.list_invitations(TENANT_A)

    reply = scoped(client, "read").post(f"{API}/invitations/{record.id}/retry")

    assert reply.status == 403
    assert reply.json() == NO_INVITE


# -- races --------------------------------------------------------------------------


def test_racing_regenerations_and_get_or_creates_leave_one_current_token(
    make_portal: Any,
) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    portals = [make_portal() for _ in range(2)]  # two engines, like two processes
    portals[0].get_or_create_token(TENANT_A, "contact", 1)
    barrier = threading.Barrier(6)

    def one(index: int) -> str:
        portal = portals[index % 2]
        barrier.wait(timeout=30)
        if index < 3:
            return portal.regenerate_token(TENANT_A, "contact", 1).token
        return portal.get_or_create_token(TENANT_A, "contact", 1).token

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(one, range(6)))

    rows = portals[0].management.list_tokens(TENANT_A, subject_type="contact").items
    current = [row for row in rows if row.current]
    assert len(current) == 1
    assert current[0].revoked_at is None
    assert all(row.revoked_at is not None for row in rows if not row.current)
    assert len(rows) >= 4  # the first token and one per regeneration


def test_management_calls_share_the_rate_limit_and_answer_429(
    make_portal: Any, make_client: Any
) -> None:
    portal = make_portal(rate_limit="2/day")
    client = make_client(portal, portal.create_api_token(TENANT_A).token)
    client.get(f"{API}/tokens")
    client.get(f"{API}/invitations")

    for method, path in (("PATCH", f"{API}/config"), ("GET", f"{API}/webhooks")):
        reply = client.request(method, path, json={})
        assert reply.status == 429, path
        assert reply.json() == {"message": "Too Many Requests"}
        assert int(reply.headers["Retry-After"]) > 0


def test_a_renewed_token_is_listed_as_renewed_and_no_longer_current(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    token_of(client)
    clock.advance(days=25)
    renewed_at = clock.now
    portal.renew_expiring_tokens(7, TENANT_A)

    new, old = client.get(f"{API}/tokens?type=contact&id=1").json()["data"]

    assert (new["current"], new["renewed_at"], new["status"]) == (True, None, "active")
    assert (old["current"], old["renewed_at"], old["status"]) == (False, iso(renewed_at), "active")
