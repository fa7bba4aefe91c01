"""Staff previews (``POST /token/preview``): a client's portal seen read-only for 15
minutes, on both adapters and both databases."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import sqlalchemy as sa

from client_portal_core import ClientPortal, token_accessed
from conftest import API, PORTAL, TENANT_A, FakeClock, PortalClient
from portal_helpers import HostItems, csrf_of, session_rows, sign_in, sign_out

PUBLIC_URL = "https://portal.example.test"
COOKIE = "client_portal_session"
BANNER = "data-preview-banner"
NO_INVITE = {"message": "This API token does not have the 'invite' scope"}
PREVIEW_ENDED = "This staff preview has ended."


@pytest.fixture
def items() -> HostItems:
    return HostItems()


@pytest.fixture
def portal(
    request: pytest.FixtureRequest, make_portal: Any, directory: Any, items: HostItems
) -> ClientPortal:
    marker = request.node.get_closest_marker("portal")
    options = dict(marker.kwargs) if marker else {}
    return make_portal(plugins=(directory, items), **options)  # type: ignore[no-any-return]


def iso(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def preview_of(client: PortalClient, kind: str = "contact", subject: Any = 1) -> dict[str, str]:
    reply = client.post(f"{API}/token/preview", json={"type": kind, "id": subject})
    assert reply.status == 200, reply.body
    return reply.json()  # type: ignore[no-any-return]


def link_path(preview: dict[str, str]) -> str:
    url = preview["url"]
    assert url.startswith(PUBLIC_URL + PORTAL + "/")
    return url.removeprefix(PUBLIC_URL)


def open_preview(
    client: PortalClient, kind: str = "contact", subject: Any = 1
) -> tuple[PortalClient, Any]:
    """A browser in a preview session of the subject, and the home page it landed on."""
    browser = client.browser()
    landed = browser.visit(link_path(preview_of(client, kind, subject)))
    assert (landed.status, landed.path) == (200, f"{PORTAL}/"), landed.text
    return browser, landed


def row_count(portal: ClientPortal, table: sa.Table) -> int:
    with portal.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def cookie_max_age(reply: Any) -> int:
    for part in reply.headers["Set-Cookie"].split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "max-age":
            return int(value)
    raise AssertionError("no Max-Age")


# -- POST /token/preview --------------------------------------------------------------


def test_preview_answers_a_portal_url_ending_in_15_minutes(
    client: PortalClient, clock: FakeClock
) -> None:
    reply = client.post(f"{API}/token/preview", json={"type": "contact", "id": 1})

    assert reply.status == 200
    assert list(reply.json()) == ["url", "expires_at"]
    assert reply.json()["expires_at"] == iso(clock.advance(minutes=15))
    link_path(reply.json())


def test_the_preview_url_holds_no_portal_token_and_the_database_no_link(
    client: PortalClient, portal: ClientPortal
) -> None:
    issued = portal.get_or_create_token(TENANT_A, "contact", 1)

    preview = preview_of(client)

    assert issued.token.split(".")[0] not in preview["url"]
    link = link_path(preview).rsplit("/", 1)[1]
    link_id = link.split(".")[0]
    with portal.engine.connect() as conn:
        stored = repr(conn.execute(sa.select(portal.tables.portal_previews)).all())
    assert link_id not in stored
    assert hashlib.sha256(link_id.encode()).hexdigest() in stored


def test_preview_of_an_unknown_subject_is_404(client: PortalClient) -> None:
    reply = client.post(f"{API}/token/preview", json={"type": "contact", "id": 999})

    assert reply.status == 404
    assert reply.json() == {"message": "Contact not found"}


def test_preview_of_another_tenants_subject_is_404(client: PortalClient) -> None:
    for kind, subject in (("contact", 3), ("company", 20)):
        reply = client.post(f"{API}/token/preview", json={"type": kind, "id": subject})
        assert reply.status == 404, subject


def test_preview_validates_its_body(client: PortalClient) -> None:
    reply = client.post(f"{API}/token/preview", json={"type": "person", "colour": 1})

    assert reply.status == 422
    assert set(reply.json()["errors"]) == {"type", "id", "colour"}


def test_preview_with_malformed_json_is_400(client: PortalClient) -> None:
    reply = client.post(f"{API}/token/preview", body=b'{"type":', content_type="application/json")

    assert reply.status == 400


def test_preview_without_an_api_token_is_401(client: PortalClient) -> None:
    reply = client.post(f"{API}/token/preview", json={"type": "contact", "id": 1}, auth=None)

    assert reply.status == 401


def test_a_read_only_token_cannot_preview(client: PortalClient, portal: ClientPortal) -> None:
    reader = client.as_token(portal.create_api_token(TENANT_A, "reader", ["read"]).token)

    reply = reader.post(f"{API}/token/preview", json={"type": "contact", "id": 1})

    assert reply.status == 403
    assert reply.json() == NO_INVITE
    assert row_count(portal, portal.tables.portal_previews) == 0


def test_preview_mints_no_token_and_writes_no_outbox_message(
    client: PortalClient, portal: ClientPortal
) -> None:
    preview_of(client, "company", 10)

    assert client.get(f"{API}/tokens").json()["data"] == []
    assert row_count(portal, portal.tables.webhook_messages) == 0


# -- opening a preview link -----------------------------------------------------------


def test_a_preview_link_answers_303_to_the_token_free_home_with_a_short_cookie(
    client: PortalClient, clock: FakeClock
) -> None:
    path = link_path(preview_of(client))
    clock.advance(minutes=5)

    reply = client.browser().get(path)

    assert reply.status == 303
    assert reply.headers["Location"] == f"{PORTAL}/"
    assert reply.headers["Set-Cookie"].startswith(f"{COOKIE}=")
    assert cookie_max_age(reply) == 10 * 60


def test_a_preview_shows_the_subjects_portal(client: PortalClient) -> None:
    _, home = open_preview(client)

    assert "Ann Archer" in home.text
    assert "Invoice A-1001" not in home.text  # counts on the home page...
    assert 'data-count="2"' in home.text  # ...two invoices


def test_every_preview_page_carries_the_staff_preview_banner(client: PortalClient) -> None:
    browser, home = open_preview(client)
    pages = [home] + [
        browser.get(f"{PORTAL}/{name}") for name in ("invoices", "files", "activity", "tickets")
    ]

    assert [page.status for page in pages] == [200, 200, 200, 200, 404]
    for page in pages:
        assert BANNER in page.text
        assert "Staff preview" in page.text
        assert "read-only" in page.text


def test_a_clients_own_pages_carry_no_preview_banner(client: PortalClient) -> None:
    browser, _ = sign_in(client)

    assert BANNER not in browser.get(f"{PORTAL}/").text
    assert BANNER not in browser.get(f"{PORTAL}/invoices").text


def test_the_banner_speaks_the_tenants_language(client: PortalClient, portal: ClientPortal) -> None:
    portal.update_config(TENANT_A, locale="de")

    _, home = open_preview(client)

    assert "Mitarbeitervorschau" in home.text
    assert "Staff preview" not in home.text


@pytest.mark.portal(webhook_allow_private_urls=True)
def test_a_preview_counts_no_visit_and_fires_nothing(
    client: PortalClient, portal: ClientPortal, listen: Any
) -> None:
    accessed = listen(token_accessed)
    portal.add_webhook_endpoint(TENANT_A, "http://127.0.0.1:9/hook")
    portal.get_or_create_token(TENANT_A, "contact", 1)
    before = row_count(portal, portal.tables.webhook_messages)

    browser, _ = open_preview(client)
    browser.get(f"{PORTAL}/invoices")

    (token,) = client.get(f"{API}/tokens").json()["data"]
    assert (token["access_count"], token["last_accessed_at"]) == (0, None)
    assert accessed.calls == []
    assert row_count(portal, portal.tables.webhook_messages) == before


def test_a_preview_is_no_visit_in_the_clients_activity_feed(
    client: PortalClient, clock: FakeClock
) -> None:
    for _ in range(2):
        open_preview(client)
    clock.advance(minutes=1)
    browser, _ = sign_in(client)

    activity = browser.get(f"{PORTAL}/activity").text

    assert activity.count("You opened your portal") == 1  # the client's own visit only


def test_each_opening_is_listed_in_accesses_with_preview_true(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    issued = portal.get_or_create_token(TENANT_A, "contact", 1)
    path = link_path(preview_of(client))

    client.browser().get(path)
    clock.advance(minutes=1)
    client.browser().get(path)

    data = client.get(f"{API}/accesses").json()["data"]
    assert [item["preview"] for item in data] == [True, True]
    assert data[0]["accessed_at"] == iso(clock.now)
    assert {item["token_id"] for item in data} == {issued.token_id}
    assert {(item["type"], item["subject_id"]) for item in data} == {("contact", "1")}
    assert data[0]["user_agent"] == "portal-tests/1.0"


def test_a_preview_of_a_subject_without_a_token_names_no_token(client: PortalClient) -> None:
    open_preview(client, "company", 10)

    (item,) = client.get(f"{API}/accesses").json()["data"]
    assert (item["token_id"], item["preview"], item["subject_id"]) == (None, True, "10")
    assert client.get(f"{API}/tokens").json()["data"] == []


def test_head_on_a_preview_link_sets_no_cookie_and_logs_nothing(
    client: PortalClient, portal: ClientPortal
) -> None:
    reply = client.browser().request("HEAD", link_path(preview_of(client)))

    assert reply.status == 303
    assert "Set-Cookie" not in reply.headers
    assert portal.accesses.list_accesses(TENANT_A) == []


def test_a_tampered_or_unknown_preview_link_is_404(client: PortalClient) -> None:
    path = link_path(preview_of(client))
    link_id, stamp, signature = path.rsplit("/", 1)[1].split(".")

    for forged in (
        f"{link_id}x.{stamp}.{signature}",
        f"{link_id}.{stamp}.{signature[:-3]}abc",
        f"{link_id}.AAAAAA.{signature}",
        "a.b.c",
    ):
        reply = client.browser().get(f"{PORTAL}/{forged}")
        assert reply.status == 404, forged
        assert "Set-Cookie" not in reply.headers


def test_a_preview_link_of_a_switched_off_portal_is_403(
    client: PortalClient, portal: ClientPortal
) -> None:
    path = link_path(preview_of(client))
    portal.update_config(TENANT_A, is_active=False)

    assert client.browser().get(path).status == 403


# -- read-only ----------------------------------------------------------------------


def test_preview_pages_never_offer_a_renewal(client: PortalClient, clock: FakeClock) -> None:
    preview = preview_of(client)
    browser = client.browser()
    pages = [browser.visit(link_path(preview))]
    pages += [browser.get(f"{PORTAL}/{name}") for name in ("invoices", "activity")]
    clock.advance(minutes=15)
    pages.append(client.browser().get(link_path(preview)))  # the expired link

    assert pages[-1].status == 410
    for page in pages:
        assert "/renew" not in page.text
        assert "new link" not in page.text.lower()


def test_posting_a_preview_link_to_renew_sends_nothing(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    path = link_path(preview_of(client))

    now = client.browser().post(f"{path}/renew")
    clock.advance(minutes=20)
    later = client.browser().post(f"{path}/renew")

    assert (now.status, later.status) == (404, 404)
    assert portal.mailer.outbox == []  # type: ignore[attr-defined]
    assert portal.list_invitations(TENANT_A) == []


def test_a_preview_session_can_sign_out(client: PortalClient, portal: ClientPortal) -> None:
    browser, home = open_preview(client)

    reply = sign_out(browser, csrf_of(home.text))

    assert reply.status == 303
    assert session_rows(portal) == []
    assert browser.get(f"{PORTAL}/").status == 401


def test_the_host_side_api_says_it_is_a_preview(client: PortalClient, portal: ClientPortal) -> None:
    browser, _ = open_preview(client)
    assert browser.jar is not None

    found = portal.sessions.current_client(f"{COOKIE}={browser.jar[COOKIE]}")

    assert found.preview is True
    assert (found.subject_type.value, found.subject_id) == ("contact", "1")
    own, _ = sign_in(client)
    assert own.jar is not None
    assert portal.sessions.current_client(f"{COOKIE}={own.jar[COOKIE]}").preview is False


def test_the_clients_own_link_replaces_a_preview_in_the_same_browser(
    client: PortalClient, portal: ClientPortal
) -> None:
    browser, _ = open_preview(client)
    issued = portal.get_or_create_token(TENANT_A, "contact", 1)

    home = browser.visit(f"{PORTAL}/{issued.token}")

    assert BANNER not in home.text
    assert [row.preview_id for row in session_rows(portal)] == [None]
    (token,) = client.get(f"{API}/tokens").json()["data"]
    assert token["access_count"] == 1


# -- how a preview ends -------------------------------------------------------------


def test_a_preview_session_ends_after_15_minutes(client: PortalClient, clock: FakeClock) -> None:
    browser, _ = open_preview(client)

    clock.advance(minutes=14, seconds=59)
    assert browser.get(f"{PORTAL}/").status == 200
    clock.advance(seconds=1)
    reply = browser.get(f"{PORTAL}/")

    assert reply.status == 401
    assert PREVIEW_ENDED in reply.text


def test_a_preview_session_ends_when_its_link_does_not_15_minutes_after_opening(
    client: PortalClient, clock: FakeClock
) -> None:
    path = link_path(preview_of(client))
    clock.advance(minutes=10)
    browser = client.browser()
    assert browser.visit(path).status == 200

    clock.advance(minutes=5)

    assert browser.get(f"{PORTAL}/").status == 401


def test_a_preview_link_is_410_after_15_minutes(client: PortalClient, clock: FakeClock) -> None:
    path = link_path(preview_of(client))

    clock.advance(minutes=15)
    reply = client.browser().get(path)

    assert reply.status == 410
    assert "Set-Cookie" not in reply.headers
    assert "preview link has expired" in reply.text


def test_revoking_the_subjects_tokens_ends_the_preview_and_its_link(
    client: PortalClient, portal: ClientPortal
) -> None:
    portal.get_or_create_token(TENANT_A, "contact", 1)
    preview = preview_of(client)
    browser = client.browser()
    browser.visit(link_path(preview))

    client.post(f"{API}/token/revoke", json={"type": "contact", "id": 1})

    assert browser.get(f"{PORTAL}/").status == 401
    assert client.browser().get(link_path(preview)).status == 404
    assert session_rows(portal) == []


def test_revoking_ends_the_preview_of_a_subject_that_has_no_token(client: PortalClient) -> None:
    browser, _ = open_preview(client, "company", 10)

    reply = client.post(f"{API}/token/revoke", json={"type": "company", "id": 10})

    assert reply.json()["revoked"] == 0
    assert browser.get(f"{PORTAL}/").status == 401


def test_regenerating_the_token_ends_the_preview(client: PortalClient) -> None:
    browser, _ = open_preview(client)

    client.post(f"{API}/token", json={"type": "contact", "id": 1, "regenerate": True})

    assert browser.get(f"{PORTAL}/").status == 401


def test_revoking_the_token_the_preview_was_made_with_ends_it(
    client: PortalClient, portal: ClientPortal
) -> None:
    issued = portal.get_or_create_token(TENANT_A, "contact", 1)
    browser, _ = open_preview(client)

    portal.revoke_token(TENANT_A, issued.token_id)

    assert browser.get(f"{PORTAL}/").status == 401


def test_revoking_another_subject_leaves_the_preview_alone(client: PortalClient) -> None:
    browser, _ = open_preview(client)

    client.post(f"{API}/token/revoke", json={"type": "contact", "id": "c-7f3e"})

    assert browser.get(f"{PORTAL}/").status == 200


def test_the_directory_losing_the_subject_ends_the_preview(
    client: PortalClient, monkeypatch: pytest.MonkeyPatch, directory_entries: Any
) -> None:
    browser, _ = open_preview(client)
    monkeypatch.delitem(directory_entries[(TENANT_A, "contact")], "1")

    assert browser.get(f"{PORTAL}/").status == 401


def test_expired_previews_are_pruned(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    preview_of(client)
    preview_of(client, "company", 10)
    clock.advance(minutes=15)

    assert portal.previews.prune() == 2
    assert row_count(portal, portal.tables.portal_previews) == 0
