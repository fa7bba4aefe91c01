"""The host's content in the portal, on both adapters: modules, files, activity, isolation."""

from __future__ import annotations

import re
from typing import Any

import pytest

from client_portal_core import ClientPortal, PortalItem
from conftest import PORTAL, TENANT_A, TENANT_B, PortalClient
from portal_helpers import ITEMS, HostItems, sign_in


@pytest.fixture
def items() -> HostItems:
    return HostItems()


@pytest.fixture
def portal(make_portal: Any, directory: Any, items: HostItems) -> ClientPortal:
    return make_portal(plugins=(directory, items))  # type: ignore[no-any-return]


def counts(html: str) -> dict[str, int]:
    """Module -> item count, as the home page's tiles show them."""
    found = re.findall(
        r'data-module="(\w+)">\s*<strong>.*?</strong>\s*<span[^>]*data-count="(\d+)"', html, re.S
    )
    return {module: int(count) for module, count in found}


def test_home_lists_each_enabled_module_with_its_item_count(client: PortalClient) -> None:
    browser, _ = sign_in(client)

    home = browser.get(f"{PORTAL}/").text

    assert counts(home) == {"invoices": 2, "proposals": 1, "tasks": 0}
    assert f'href="{PORTAL}/invoices"' in home
    assert "2 items" in home


def test_a_module_page_shows_the_hosts_items(client: PortalClient) -> None:
    browser, _ = sign_in(client)

    page = browser.get(f"{PORTAL}/invoices")

    assert page.status == 200
    for shown in ("Invoice A-1001", "Invoice A-1002", "1,200.50 EUR", "Open", "Paid"):
        assert shown in page.text
    assert "Website redesign" in page.text
    assert "January 31, 2030" in page.text
    assert 'href="https://host.example/invoices/1001"' in page.text


def test_module_pages_follow_the_enabled_modules(
    client: PortalClient, portal: ClientPortal
) -> None:
    portal.update_config(TENANT_A, enabled_modules=["tickets", "invoices"])
    browser, _ = sign_in(client)

    assert browser.get(f"{PORTAL}/tickets").status == 200
    assert counts(browser.get(f"{PORTAL}/").text) == {"tickets": 0, "invoices": 2}
    reply = browser.get(f"{PORTAL}/proposals")
    assert reply.status == 404
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Sign out" in reply.text  # still signed in, still branded


def test_an_unknown_page_is_404(client: PortalClient) -> None:
    browser, _ = sign_in(client)

    assert browser.get(f"{PORTAL}/nonsense").status == 404


def test_empty_sections_say_so_plainly(client: PortalClient) -> None:
    browser, _ = sign_in(client, subject_id="c-7f3e")

    assert "You have no tasks." in browser.get(f"{PORTAL}/tasks").text
    home = browser.get(f"{PORTAL}/").text
    assert "No files have been shared with you yet." in home
    assert "File sharing is available" not in home
    assert "Your recent activity is shown here" not in home


def test_the_files_section_is_fed_by_the_hook_when_file_sharing_is_allowed(
    client: PortalClient, portal: ClientPortal
) -> None:
    browser, _ = sign_in(client)
    assert "Contract A.pdf" in browser.get(f"{PORTAL}/").text
    assert 'href="/files/a.pdf"' in browser.get(f"{PORTAL}/files").text

    portal.update_config(TENANT_A, allow_file_sharing=False)

    assert "Contract A.pdf" not in browser.get(f"{PORTAL}/").text
    assert browser.get(f"{PORTAL}/files").status == 404


def test_the_activity_feed_shows_invitations_visits_and_the_hosts_entries(
    client: PortalClient, portal: ClientPortal
) -> None:
    portal.invite(TENANT_A, "contact", 1)
    browser, _ = sign_in(client)

    page = browser.get(f"{PORTAL}/activity").text

    assert "Invitation sent to a•••@example.com" in page
    assert "You opened your portal" in page
    assert "Your order shipped" in page
    assert page.index("You opened your portal") < page.index("Your order shipped")


def test_the_activity_feed_can_be_switched_off(client: PortalClient, portal: ClientPortal) -> None:
    portal.update_config(TENANT_A, show_activity_feed=False)
    browser, _ = sign_in(client)

    assert "Recent activity" not in browser.get(f"{PORTAL}/").text
    assert browser.get(f"{PORTAL}/activity").status == 404


def test_activity_shows_no_other_subjects_visits(
    client: PortalClient, portal: ClientPortal
) -> None:
    sign_in(client, subject_id="c-7f3e")
    browser, _ = sign_in(client, subject_id="2")  # no email: never invited

    page = browser.get(f"{PORTAL}/activity").text

    assert page.count("You opened your portal") == 1
    assert "Invitation sent" not in page


def test_items_are_escaped_and_unsafe_links_are_dropped(
    client: PortalClient, items: HostItems
) -> None:
    items.items = {
        (TENANT_A, "contact", "1", "invoices"): [
            PortalItem("<script>alert(1)</script>", detail='<img src=x onerror="x">'),
            PortalItem("js link", url="javascript:alert(1)"),
            PortalItem("data link", url="data:text/html,<b>x</b>"),
            PortalItem("protocol-relative", url="//evil.example/x"),
            PortalItem("spaced", url="https://ok.example/a b"),
            PortalItem("quoted", url='https://ok.example/"onmouseover="x'),
            PortalItem("   "),  # no title: dropped
        ]
    }
    browser, _ = sign_in(client)

    page = browser.get(f"{PORTAL}/invoices").text

    assert "<script>alert" not in page
    assert "&lt;script&gt;" in page
    assert "<img src=x" not in page
    links = re.findall(r'href="([^"]*)"', page.split("<main>")[1])
    assert [link for link in links if "example" in link or ":" in link] == []
    for title in ("js link", "data link", "protocol-relative", "spaced", "quoted"):
        assert f'<div class="item-title">{title}</div>' in page
    assert counts(browser.get(f"{PORTAL}/").text)["invoices"] == 6


def test_a_failing_hook_says_the_items_cannot_be_shown_not_a_5xx(
    client: PortalClient, items: HostItems
) -> None:
    browser, _ = sign_in(client)
    items.broken = True

    home = browser.get(f"{PORTAL}/")
    page = browser.get(f"{PORTAL}/invoices")

    assert (home.status, page.status) == (200, 200)
    assert "cannot be shown right now" in page.text
    assert "hunter2" not in home.text + page.text


def test_a_hook_returning_garbage_shows_only_real_items(
    client: PortalClient, items: HostItems
) -> None:
    items.items = {(TENANT_A, "contact", "1", "invoices"): ["a string", 42, PortalItem("Real one")]}  # type: ignore[list-item]
    browser, _ = sign_in(client)

    page = browser.get(f"{PORTAL}/invoices").text

    assert "Real one" in page
    assert "a string" not in page


def test_the_hook_is_asked_for_the_sessions_own_tenant_and_subject(
    client: PortalClient, items: HostItems
) -> None:
    browser, _ = sign_in(client)
    items.calls.clear()

    browser.get(f"{PORTAL}/invoices?tenant_id={TENANT_B}&subject_id=3")

    assert items.calls == [(TENANT_A, "contact", "1", "invoices")]


def test_a_session_of_tenant_a_never_shows_tenant_b_items(client: PortalClient) -> None:
    b_titles = [item.title for key, found in ITEMS.items() if key[0] == TENANT_B for item in found]
    browser, _ = sign_in(client, TENANT_A, "contact", "shared-1")
    paths = ["/", "/invoices", "/proposals", "/files", "/activity", "/invoices?tenant=tenant-b"]

    for path in paths:
        page = browser.get(PORTAL + path).text
        assert [title for title in b_titles if title in page] == []
    assert "Invoice of Sam A" in browser.get(f"{PORTAL}/invoices").text


def test_two_browsers_of_two_tenants_each_see_their_own(client: PortalClient) -> None:
    a, _ = sign_in(client, TENANT_A, "contact", "shared-1")
    b, _ = sign_in(client, TENANT_B, "contact", "shared-1")

    assert "Invoice of Sam A" in a.get(f"{PORTAL}/invoices").text
    assert "Invoice of Sam B" not in a.get(f"{PORTAL}/invoices").text
    assert "Invoice of Sam B" in b.get(f"{PORTAL}/invoices").text
    assert "Sam of B" in b.get(f"{PORTAL}/").text


def test_the_home_page_is_branded_and_has_a_sign_out_form(
    client: PortalClient, portal: ClientPortal
) -> None:
    portal.update_config(
        TENANT_A, portal_name="Acme Hub", portal_logo="https://cdn.example/logo.png"
    )
    browser, _ = sign_in(client)

    for path in ("/", "/invoices", "/files", "/activity"):
        page = browser.get(PORTAL + path).text
        assert "Acme Hub" in page
        assert 'src="https://cdn.example/logo.png"' in page
        assert f'action="{PORTAL}/logout"' in page
        assert 'name="csrf_token"' in page
        assert "<script" not in page


def test_portal_pages_keep_the_strict_content_security_policy(client: PortalClient) -> None:
    browser, _ = sign_in(client)

    reply = browser.get(f"{PORTAL}/")

    policy = reply.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    assert "frame-ancestors 'none'" in policy
    assert reply.headers["Referrer-Policy"] == "no-referrer"
