"""``GET /accesses``: the access log of portal links and staff previews, on both
adapters and both databases."""

from __future__ import annotations

from typing import Any

import pytest

from client_portal_core import ClientPortal
from conftest import API, PORTAL, TENANT_A, TENANT_B, FakeClock, PortalClient

ACCESS_FIELDS = ["token_id", "type", "subject_id", "accessed_at", "ip", "user_agent", "preview"]
SUBJECTS_A = [
    ("contact", "1"),
    ("contact", "c-7f3e"),
    ("contact", "shared-1"),
    ("company", "10"),
    ("company", "co-acme-2"),
]


def iso(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def visit(client: PortalClient, kind: str = "contact", subject: str = "1") -> int:
    """Open the subject's portal link once (a counted visit); its token id."""
    issued = client.portal.get_or_create_token(TENANT_A, kind, subject)
    assert client.browser().get(f"{PORTAL}/{issued.token}").status == 303
    return issued.token_id


def accesses(client: PortalClient, query: str = "") -> Any:
    reply = client.get(f"{API}/accesses{query}")
    assert reply.status == 200, reply.body
    return reply.json()


def test_access_items_have_the_documented_fields(client: PortalClient, clock: FakeClock) -> None:
    token_id = visit(client)

    page = accesses(client)

    assert page["next_cursor"] is None
    (item,) = page["data"]
    assert list(item) == ACCESS_FIELDS
    assert item["token_id"] == token_id
    assert (item["type"], item["subject_id"]) == ("contact", "1")
    assert item["accessed_at"] == iso(clock.now)
    assert item["ip"]
    assert item["user_agent"] == "portal-tests/1.0"
    assert item["preview"] is False


def test_accesses_are_listed_newest_first(client: PortalClient, clock: FakeClock) -> None:
    visit(client, "contact", "1")
    clock.advance(minutes=1)
    visit(client, "company", "10")

    data = accesses(client)["data"]

    assert [item["subject_id"] for item in data] == ["10", "1"]
    assert data[0]["accessed_at"] > data[1]["accessed_at"]


def test_a_staff_preview_is_listed_apart_from_visits(client: PortalClient) -> None:
    visit(client)
    preview = client.post(f"{API}/token/preview", json={"type": "contact", "id": 1}).json()
    client.browser().get(preview["url"].removeprefix("https://portal.example.test"))

    data = accesses(client, "?type=contact&id=1")["data"]

    assert [item["preview"] for item in data] == [True, False]


def test_accesses_filter_by_subject(client: PortalClient) -> None:
    visit(client, "contact", "1")
    visit(client, "company", "10")
    visit(client, "company", "co-acme-2")

    one = accesses(client, "?type=company&id=10")["data"]
    companies = accesses(client, "?type=company")["data"]

    assert [(item["type"], item["subject_id"]) for item in one] == [("company", "10")]
    assert [item["subject_id"] for item in companies] == ["co-acme-2", "10"]


def test_accesses_filter_by_subject_names_ids_as_strings(client: PortalClient) -> None:
    visit(client, "contact", "c-7f3e")

    assert len(accesses(client, "?type=contact&id=c-7f3e")["data"]) == 1
    assert accesses(client, "?type=contact&id=999")["data"] == []


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("type=person", "type"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=forged", "cursor"),
        ("preview=true", "preview"),
        ("type=contact&type=company", "type"),
        ("id=" + "x" * 65, "id"),
    ],
)
def test_accesses_refuse_a_bad_parameter_by_name(
    client: PortalClient, query: str, parameter: str
) -> None:
    reply = client.get(f"{API}/accesses?{query}")

    assert reply.status == 422
    assert list(reply.json()["errors"]) == [parameter]


def test_accesses_report_every_bad_parameter_at_once(client: PortalClient) -> None:
    reply = client.get(f"{API}/accesses?type=robot&limit=0&x=1")

    assert reply.status == 422
    assert set(reply.json()["errors"]) == {"type", "limit", "x"}


def test_accesses_need_the_read_scope(client: PortalClient, portal: ClientPortal) -> None:
    writer = client.as_token(portal.create_api_token(TENANT_A, "w", ["invite", "admin"]).token)

    reply = writer.get(f"{API}/accesses")

    assert reply.status == 403
    assert reply.json() == {"message": "This API token does not have the 'read' scope"}


def test_a_read_only_token_lists_accesses(client: PortalClient, portal: ClientPortal) -> None:
    visit(client)
    reader = client.as_token(portal.create_api_token(TENANT_A, "r", ["read"]).token)

    assert len(accesses(reader)["data"]) == 1


def test_accesses_without_an_api_token_are_401(client: PortalClient) -> None:
    assert client.get(f"{API}/accesses", auth=None).status == 401


def test_accesses_show_only_the_callers_tenant(
    client: PortalClient, portal: ClientPortal, api_token_b: str
) -> None:
    theirs = portal.get_or_create_token(TENANT_B, "contact", "shared-1")
    client.browser().get(f"{PORTAL}/{theirs.token}")

    assert accesses(client)["data"] == []
    assert accesses(client, "?type=contact&id=shared-1")["data"] == []
    assert len(accesses(client.as_token(api_token_b))["data"]) == 1


def test_an_accesses_cursor_of_another_tenant_or_list_is_refused(
    client: PortalClient, api_token_b: str
) -> None:
    for _ in range(2):
        visit(client)
    cursor = accesses(client, "?limit=1")["next_cursor"]
    client.portal.get_or_create_token(TENANT_A, "company", "10")  # two tokens: a second page
    token_cursor = client.get(f"{API}/tokens?limit=1").json()["next_cursor"]
    assert cursor
    assert token_cursor

    other_tenant = client.as_token(api_token_b).get(f"{API}/accesses?cursor={cursor}")
    other_list = client.get(f"{API}/accesses?cursor={token_cursor}")

    assert (other_tenant.status, other_list.status) == (422, 422)
    assert list(other_tenant.json()["errors"]) == list(other_list.json()["errors"]) == ["cursor"]


def test_access_pages_lose_and_repeat_nothing_while_new_visits_arrive(
    client: PortalClient,
) -> None:
    for kind, subject in SUBJECTS_A:
        visit(client, kind, subject)
    seen: list[tuple[str, str]] = []
    cursor = None
    arriving = iter(SUBJECTS_A[:3])
    while True:
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        page = accesses(client, query)
        assert len(page["data"]) <= 2
        seen += [(item["type"], item["subject_id"]) for item in page["data"]]
        cursor = page["next_cursor"]
        new = next(arriving, None)
        if new is not None:
            visit(client, *new)  # a visit logged between two pages
        if cursor is None:
            break

    assert seen == list(reversed(SUBJECTS_A))  # each once, newest first
    assert len(accesses(client)["data"]) == len(SUBJECTS_A) + 3


def test_accesses_default_to_pages_of_50(client: PortalClient, portal: ClientPortal) -> None:
    issued = portal.get_or_create_token(TENANT_A, "contact", "1")
    for _ in range(53):
        portal.accesses.add_access(
            tenant_id=TENANT_A,
            token_id=issued.token_id,
            subject_type="contact",
            subject_id="1",
            accessed_at=portal.clock(),
            ip="127.0.0.1",
            user_agent=None,
            preview=False,
        )

    first = accesses(client)
    second = accesses(client, f"?cursor={first['next_cursor']}")

    assert (len(first["data"]), len(second["data"])) == (50, 3)
    assert second["next_cursor"] is None
    assert len(accesses(client, "?limit=100")["data"]) == 53


def test_accesses_never_contain_a_usable_token(client: PortalClient, portal: ClientPortal) -> None:
    issued = portal.get_or_create_token(TENANT_A, "contact", "1")
    client.browser().get(f"{PORTAL}/{issued.token}")

    body = client.get(f"{API}/accesses").text

    assert issued.token.split(".")[0] not in body
