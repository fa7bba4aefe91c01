"""Portal sessions on both adapters: a link signs a browser in, and every way it ends."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import sqlalchemy as sa

from client_portal_core import ClientPortal, PortalSignInRequired, token_accessed
from conftest import PORTAL, TENANT_A, TENANT_B, FakeClock, PortalClient
from portal_helpers import HostItems, csrf_of, form, session_rows, sign_in, sign_out

COOKIE = "client_portal_session"


@pytest.fixture
def items() -> HostItems:
    return HostItems()


@pytest.fixture
def portal(make_portal: Any, directory: Any, items: HostItems) -> ClientPortal:
    return make_portal(plugins=(directory, items))  # type: ignore[no-any-return]


def open_link(client: PortalClient, kind: str = "contact", subject_id: str = "1") -> Any:
    issued = client.portal.get_or_create_token(TENANT_A, kind, subject_id)
    return client.browser().get(f"{PORTAL}/{issued.token}"), issued


def cookie_attributes(reply: Any) -> dict[str, str]:
    name_value, *attributes = (part.strip() for part in reply.headers["Set-Cookie"].split(";"))
    found = {"": name_value}
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        found[key.lower()] = value
    return found


# -- opening a link -------------------------------------------------------------


def test_a_valid_link_answers_303_to_the_token_free_home(client: PortalClient) -> None:
    reply, issued = open_link(client)

    assert reply.status == 303
    assert reply.headers["Location"] == f"{PORTAL}/"
    assert issued.token not in reply.headers["Location"]


def test_the_session_cookie_is_httponly_lax_scoped_to_the_portal_and_secure(
    client: PortalClient,
) -> None:
    reply, _ = open_link(client)

    attributes = cookie_attributes(reply)
    assert attributes[""].startswith(f"{COOKIE}=")
    assert attributes["path"] == PORTAL
    assert attributes["samesite"] == "Lax"
    assert "httponly" in attributes
    assert "secure" in attributes  # public_url is https
    assert int(attributes["max-age"]) == 12 * 3600


def test_the_cookie_is_not_secure_when_the_public_url_is_http(
    make_portal: Any, make_client: Any, directory: Any
) -> None:
    portal = make_portal(public_url="http://127.0.0.1:8000")
    reply, _ = open_link(make_client(portal))

    assert "secure" not in cookie_attributes(reply)


def test_the_cookie_holds_a_signed_random_id_whose_hash_alone_is_stored(
    client: PortalClient, portal: ClientPortal
) -> None:
    reply, issued = open_link(client)

    value = cookie_attributes(reply)[""].split("=", 1)[1]
    session_id, _, signature = value.rpartition(".")
    assert len(session_id) >= 43
    assert signature
    assert issued.token not in value
    (row,) = session_rows(portal)
    assert row.id_hash == hashlib.sha256(session_id.encode()).hexdigest()
    assert session_id not in repr(tuple(row))
    assert (row.tenant_id, row.token_id, row.subject_type, row.subject_id) == (
        TENANT_A,
        issued.token_id,
        "contact",
        "1",
    )


def test_a_forged_or_tampered_cookie_opens_nothing(client: PortalClient) -> None:
    browser, _ = sign_in(client)
    assert browser.jar is not None
    value = browser.jar[COOKIE]

    for forged in (value[:-2] + "xx", "abc.def", "x" * 600, value.split(".")[0]):
        stranger = client.browser()
        assert stranger.jar is not None
        stranger.jar[COOKIE] = forged
        assert stranger.get(f"{PORTAL}/").status == 401


def test_a_broken_cookie_header_is_the_401_page_never_a_5xx(client: PortalClient) -> None:
    for header in (f'{COOKIE}="unterminated', "=;;=;", "a" * 5000, f"{COOKIE}=%C3%A9.abc"):
        reply = client.get(f"{PORTAL}/", auth=None, headers={"Cookie": header})
        assert reply.status == 401
        assert reply.headers["Content-Type"] == "text/html; charset=utf-8"


def test_reloading_the_home_page_stays_signed_in(client: PortalClient) -> None:
    browser, _ = sign_in(client)

    first = browser.get(f"{PORTAL}/")
    second = browser.get(f"{PORTAL}/")

    assert (first.status, second.status) == (200, 200)
    assert "Ann Archer" in second.text


def test_opening_the_link_again_while_signed_in_lands_home_on_the_same_session(
    client: PortalClient, portal: ClientPortal
) -> None:
    browser, issued = sign_in(client)

    again = browser.get(f"{PORTAL}/{issued.token}")

    assert (again.status, again.headers["Location"]) == (303, f"{PORTAL}/")
    assert "Set-Cookie" not in again.headers
    assert len(session_rows(portal)) == 1
    assert browser.get(f"{PORTAL}/").status == 200


def test_another_subjects_link_replaces_the_session(
    client: PortalClient, portal: ClientPortal
) -> None:
    browser, _ = sign_in(client)
    other = portal.get_or_create_token(TENANT_A, "contact", "c-7f3e")

    page = browser.visit(f"{PORTAL}/{other.token}")

    assert "Carol String" in page.text
    assert "Ann Archer" not in page.text
    assert len(session_rows(portal)) == 1


def test_head_on_a_link_counts_nothing_logs_nothing_and_sets_no_cookie(
    client: PortalClient, portal: ClientPortal, listen: Any
) -> None:
    accessed = listen(token_accessed)
    issued = portal.get_or_create_token(TENANT_A, "contact", 1)

    reply = client.browser().request("HEAD", f"{PORTAL}/{issued.token}")

    assert reply.status == 303
    assert "Set-Cookie" not in reply.headers
    assert accessed.calls == []
    assert portal.accesses.list_accesses(TENANT_A) == []
    assert session_rows(portal) == []


def test_each_counted_visit_logs_one_access_row(client: PortalClient, portal: ClientPortal) -> None:
    issued = portal.get_or_create_token(TENANT_A, "contact", 1)

    for _ in range(2):
        client.browser().get(f"{PORTAL}/{issued.token}")

    accesses = portal.accesses.list_accesses(TENANT_A, subject_type="contact", subject_id="1")
    assert len(accesses) == 2
    assert accesses[0].id > accesses[1].id  # newest first
    newest = accesses[0]
    assert (newest.token_id, newest.preview, newest.user_agent) == (
        issued.token_id,
        False,
        "portal-tests/1.0",
    )
    assert newest.ip
    assert portal.accesses.list_accesses(TENANT_A, before_id=newest.id) == [accesses[1]]
    assert portal.accesses.list_accesses(TENANT_B) == []


def test_no_page_or_final_url_contains_the_token(
    client: PortalClient, portal: ClientPortal
) -> None:
    issued = portal.get_or_create_token(TENANT_A, "contact", 1)
    browser = client.browser()
    landed = browser.visit(f"{PORTAL}/{issued.token}")
    pages = [landed]
    pages += [browser.visit(f"{PORTAL}/{name}") for name in ("invoices", "files", "activity")]
    pages.append(browser.visit(f"{PORTAL}/proposals"))
    pages.append(browser.visit(f"{PORTAL}/tickets"))  # not enabled: 404
    token_id = issued.token.split(".")[0]

    for page in pages:
        assert issued.token not in page.text
        assert token_id not in page.text
        assert token_id not in page.path
    out = sign_out(browser, csrf_of(landed.text))
    signed_out = browser.visit(out.headers["Location"])
    assert token_id not in signed_out.text + signed_out.path


# -- how a session ends -----------------------------------------------------------


def test_revoking_the_token_ends_the_session_at_once(
    client: PortalClient, portal: ClientPortal
) -> None:
    browser, issued = sign_in(client)

    portal.revoke_token(TENANT_A, issued.token_id)
    reply = browser.get(f"{PORTAL}/")

    assert reply.status == 401
    assert cookie_attributes(reply)["max-age"] == "0"
    assert session_rows(portal) == []


def test_the_directory_losing_the_subject_ends_the_session(
    client: PortalClient,
    portal: ClientPortal,
    monkeypatch: pytest.MonkeyPatch,
    directory_entries: Any,
) -> None:
    browser, _ = sign_in(client)
    monkeypatch.delitem(directory_entries[(TENANT_A, "contact")], "1")

    assert browser.get(f"{PORTAL}/invoices").status == 401
    monkeypatch.undo()
    assert browser.get(f"{PORTAL}/").status == 401  # ended for good
    assert session_rows(portal) == []


def test_switching_the_portal_off_ends_the_session(
    client: PortalClient, portal: ClientPortal
) -> None:
    browser, _ = sign_in(client)

    portal.update_config(TENANT_A, is_active=False)
    assert browser.get(f"{PORTAL}/").status == 401
    portal.update_config(TENANT_A, is_active=True)

    assert browser.get(f"{PORTAL}/").status == 401
    assert session_rows(portal) == []


def test_a_session_ends_at_its_maximum_age(
    make_portal: Any, make_client: Any, directory: Any, clock: FakeClock
) -> None:
    portal = make_portal(portal_session_max_age_seconds=3600)
    browser, _ = sign_in(make_client(portal))

    clock.advance(minutes=59)
    assert browser.get(f"{PORTAL}/").status == 200
    clock.advance(minutes=1)
    assert browser.get(f"{PORTAL}/").status == 401


def test_a_session_never_outlives_its_token(
    make_portal: Any, make_client: Any, directory: Any, clock: FakeClock
) -> None:
    portal = make_portal(portal_session_max_age_seconds=7 * 24 * 3600)
    portal.update_config(TENANT_A, token_expiration_days=1)
    browser, _ = sign_in(make_client(portal))
    clock.advance(hours=23, minutes=59)
    assert browser.get(f"{PORTAL}/").status == 200

    clock.advance(minutes=1)  # the token expires; the session had six more days

    assert browser.get(f"{PORTAL}/").status == 401


def test_moving_the_tokens_expiry_into_the_past_ends_its_sessions(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    browser, issued = sign_in(client)

    portal.set_token_expiry(issued.token, clock.now)

    assert browser.get(f"{PORTAL}/").status == 401
    assert client.browser().get(f"{PORTAL}/{issued.token}").status == 410


# -- signing out ------------------------------------------------------------------


def test_sign_out_ends_the_session_server_side_and_clears_the_cookie(
    client: PortalClient, portal: ClientPortal
) -> None:
    browser, _ = sign_in(client)
    home = browser.get(f"{PORTAL}/")
    assert browser.jar is not None
    stolen = dict(browser.jar)

    reply = sign_out(browser, csrf_of(home.text))

    assert reply.status == 303
    assert reply.headers["Location"].startswith(f"{PORTAL}/signed-out")
    assert cookie_attributes(reply)["max-age"] == "0"
    assert session_rows(portal) == []
    replay = client.browser()
    assert replay.jar is not None
    replay.jar.update(stolen)
    assert replay.get(f"{PORTAL}/").status == 401


def test_the_signed_out_page_is_branded_and_says_how_to_come_back(
    client: PortalClient, portal: ClientPortal
) -> None:
    portal.update_config(TENANT_A, portal_name="Acme Hub", primary_color="#112233")
    browser, _ = sign_in(client)

    reply = sign_out(browser, csrf_of(browser.get(f"{PORTAL}/").text))
    page = browser.visit(reply.headers["Location"])

    assert page.status == 200
    assert "Acme Hub" in page.text
    assert "#112233" in page.text
    assert "invitation email" in page.text
    assert "Sign out" not in page.text


@pytest.mark.parametrize("csrf", [None, "", "forged", "a" * 200])
def test_sign_out_without_the_sessions_csrf_field_is_403(
    client: PortalClient, portal: ClientPortal, csrf: str | None
) -> None:
    browser, _ = sign_in(client)

    reply = sign_out(browser, csrf)

    assert reply.status == 403
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert browser.get(f"{PORTAL}/").status == 200


def test_the_csrf_field_of_another_session_is_refused(client: PortalClient) -> None:
    first, _ = sign_in(client)
    second, _ = sign_in(client)
    other_csrf = csrf_of(second.get(f"{PORTAL}/").text)

    assert sign_out(first, other_csrf).status == 403
    assert first.get(f"{PORTAL}/").status == 200


def test_sign_out_without_a_session_just_lands_on_the_signed_out_page(
    client: PortalClient,
) -> None:
    reply = client.browser().post(f"{PORTAL}/logout", **form(csrf_token="x"))

    assert reply.status == 303
    assert reply.headers["Location"] == f"{PORTAL}/signed-out"


def test_get_on_logout_is_a_405_page(client: PortalClient) -> None:
    reply = client.browser().get(f"{PORTAL}/logout")

    assert reply.status == 405
    assert reply.headers["Allow"] == "POST"


# -- without a session ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/invoices", "/files", "/activity", "/tickets"])
def test_portal_pages_without_a_session_are_the_html_401_page(
    client: PortalClient, path: str
) -> None:
    reply = client.browser().get(PORTAL + path)

    assert reply.status == 401
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert reply.headers["Cache-Control"] == "no-store"
    assert "invitation email" in reply.text
    assert "Sign out" not in reply.text


def test_the_401_page_after_a_session_ended_carries_the_tenants_branding(
    client: PortalClient, portal: ClientPortal
) -> None:
    portal.update_config(TENANT_A, portal_name="Acme Hub")
    browser, issued = sign_in(client)
    portal.revoke_token(TENANT_A, issued.token_id)

    assert "Acme Hub" in browser.get(f"{PORTAL}/").text


def test_a_session_of_one_portal_opens_nothing_under_another_secret(
    client: PortalClient, make_portal: Any, make_client: Any
) -> None:
    browser, _ = sign_in(client)
    other = make_client(make_portal(secret_keys=["another-secret-key-0000000000"]))
    stranger = other.browser()
    assert stranger.jar is not None
    assert browser.jar is not None
    stranger.jar.update(browser.jar)

    assert stranger.get(f"{PORTAL}/").status == 401


# -- the host-side core call ------------------------------------------------------


def test_current_client_names_the_signed_in_subject(
    client: PortalClient, portal: ClientPortal
) -> None:
    browser, issued = sign_in(client)
    assert browser.jar is not None

    found = portal.sessions.current_client(f"{COOKIE}={browser.jar[COOKIE]}; other=1")

    assert (found.tenant_id, found.subject_type.value, found.subject_id) == (
        TENANT_A,
        "contact",
        "1",
    )
    assert found.recipient.email == "ann@example.com"
    assert (found.token_id, found.expires_at) == (issued.token_id, issued.expires_at)
    assert found.csrf_token not in repr(found)


def test_current_client_without_a_session_raises_with_the_401_page(portal: ClientPortal) -> None:
    with pytest.raises(PortalSignInRequired) as raised:
        portal.sessions.current_client(None)

    assert raised.value.page.status == 401
    assert "invitation email" in raised.value.page.html


def test_sessions_past_their_maximum_age_are_pruned(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    sign_in(client)
    clock.advance(hours=12)

    assert portal.sessions.prune() == 1
    with portal.engine.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).select_from(portal.tables.portal_sessions)
        ).scalar()
    assert count == 0


def test_another_spelling_of_a_valid_cookie_opens_nothing(client: PortalClient) -> None:
    """base64 leaves spare bits in a signature's last character: a cookie whose
    last character differs only there, or with padding or junk appended, is
    another spelling of the same signature, and is refused like a forgery."""
    browser, _ = sign_in(client)
    assert browser.jar is not None
    value = browser.jar[COOKIE]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(value[-1])
    siblings = [value[:-1] + alphabet[last + bump] for bump in (1, 2, 3)]

    for respelled in (*siblings, value + "=", value + "==x"):
        stranger = client.browser()
        assert stranger.jar is not None
        stranger.jar[COOKIE] = respelled
        assert stranger.get(f"{PORTAL}/").status == 401
    assert browser.get(f"{PORTAL}/").status == 200
