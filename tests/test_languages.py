"""Languages: English and German catalogs for the email, the portal pages and their errors.

The language of an invitation comes from the invite (``"locale": "de"``), else
the tenant's configuration, else English; the pages of its link speak the
invitation's language, else the tenant's, else the browser's Accept-Language.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from pydantic import ValidationError

from client_portal_core import ClientPortal, MemoryMailer, Settings
from client_portal_core.errors import ValidationFailed
from client_portal_core.rendering import BUILTIN_LOCALE_DIR, Renderer, parse_accept_language
from conftest import API, PORTAL, SECRET_KEY, TENANT_A, PortalClient, Reply
from support import current_token

ROOT = Path(__file__).resolve().parents[1]
CATALOG = "LC_MESSAGES/client_portal"

GERMAN_SUBJECT = "Ihre Einladung zu Client Portal"
ENGLISH_SUBJECT = "Your invitation to Client Portal"


def outbox(portal: ClientPortal) -> MemoryMailer:
    assert isinstance(portal.mailer, MemoryMailer)
    return portal.mailer


def invite(client: PortalClient, **body: Any) -> str:
    """Invite contact 1 of tenant A through the API; the token."""
    reply = client.post(f"{API}/contacts/1/invite", json=body)
    assert reply.status == 200, reply.text
    token: str = reply.json()["token"]
    return token


def portal_page(client: PortalClient, token: str, accept_language: str | None = None) -> Reply:
    """The page a browser ends on when it opens the link (redirects followed,
    the session cookie kept, the same Accept-Language on every request)."""
    headers = {"Accept-Language": accept_language} if accept_language else {}
    browser = client.browser()
    reply = browser.get(f"{PORTAL}/{token}", headers=headers)
    for _ in range(5):
        if reply.status != 303:
            break
        reply = browser.get(reply.headers["Location"], headers=headers)
    return reply


def is_german(html: str) -> bool:
    """A signed-in portal page in German (its sign-out button says so)."""
    return '<html lang="de">' in html and "Abmelden" in html


# -- the invitation's language --------------------------------------------------------


def test_invite_in_german_sends_a_german_email(client: PortalClient, portal: ClientPortal) -> None:
    invite(client, locale="de", custom_message="Bis bald")

    (email,) = outbox(portal).outbox
    assert email.subject == GERMAN_SUBJECT
    assert email.text.startswith("Guten Tag Ann Archer,\n")
    assert "Dieser Link ist persönlich und läuft am 31. Januar 2030, 12:00 UTC ab." in email.text
    assert "Portal öffnen" in email.html
    assert '<html lang="de">' in email.html
    assert "Bis bald" in email.text


def test_invite_in_german_gives_german_pages_for_that_link(client: PortalClient) -> None:
    token = invite(client, locale="de")

    page = portal_page(client, token, accept_language="en-US,en;q=0.9")

    assert page.status == 200
    assert is_german(page.text)
    assert "Willkommen, Ann Archer" in page.text
    assert "Ihr Zugangslink ist gültig bis 31. Januar 2030, 12:00 UTC." in page.text
    assert "Rechnungen" in page.text


def test_without_a_locale_the_email_is_english(client: PortalClient, portal: ClientPortal) -> None:
    invite(client)

    (email,) = outbox(portal).outbox
    assert email.subject == ENGLISH_SUBJECT
    assert email.text.startswith("Hello Ann Archer,\n")


def test_tenant_locale_is_the_default_of_its_emails_and_pages(
    client: PortalClient, portal: ClientPortal
) -> None:
    portal.update_config(TENANT_A, locale="de")

    token = invite(client)

    assert outbox(portal).outbox[0].subject == GERMAN_SUBJECT
    assert is_german(portal_page(client, token, accept_language="en").text)


def test_the_invitations_locale_beats_the_tenants(
    client: PortalClient, portal: ClientPortal
) -> None:
    portal.update_config(TENANT_A, locale="de")

    token = invite(client, locale="en")

    assert outbox(portal).outbox[0].subject == ENGLISH_SUBJECT
    assert '<html lang="en">' in portal_page(client, token, accept_language="de").text


@pytest.mark.parametrize(
    ("header", "german"),
    [
        pytest.param("de-DE,de;q=0.9,en;q=0.8", True, id="german-first"),
        pytest.param("fr-CH, fr;q=0.9, de;q=0.7, en;q=0.5", True, id="first-installed-wins"),
        pytest.param("en;q=0.4, de;q=0.8", True, id="q-values-not-order"),
        pytest.param("de;q=0, en", False, id="q-zero-is-refused"),
        pytest.param("fr, ja", False, id="nothing-installed-is-english"),
        pytest.param("*", False, id="wildcard"),
        pytest.param("%%%;q=abc, ;", False, id="garbage"),
    ],
)
def test_without_locales_pages_follow_accept_language(
    client: PortalClient, header: str, german: bool
) -> None:
    token = invite(client)

    page = portal_page(client, token, accept_language=header)

    assert page.status == 200
    assert is_german(page.text) is german


def test_error_pages_follow_accept_language(client: PortalClient) -> None:
    german = client.get(f"{PORTAL}/not-a-token", auth=None, headers={"Accept-Language": "de"})
    english = client.get(f"{PORTAL}/not-a-token", auth=None)

    assert german.status == english.status == 404
    assert "Nicht gefunden" in german.text
    assert "Dieser Portal-Link ist nicht gültig." in german.text
    assert "bitten Sie den Absender Ihrer Einladung um eine neue." in german.text
    assert "This portal link is not valid." in english.text


def test_expired_link_page_speaks_the_invitations_language(
    client: PortalClient, clock: Any
) -> None:
    token = invite(client, locale="de")
    clock.advance(days=31)

    page = portal_page(client, token, accept_language="en")

    assert page.status == 410
    assert "Link abgelaufen" in page.text
    assert "Dieser Link ist abgelaufen" in page.text
    assert "Neuen Link per E-Mail senden" in page.text


def test_switched_off_portal_page_speaks_the_tenants_language(
    client: PortalClient, portal: ClientPortal
) -> None:
    token = invite(client)
    portal.update_config(TENANT_A, locale="de", is_active=False)

    page = portal_page(client, token)

    assert page.status == 403
    assert "Das Kundenportal ist nicht aktiv." in page.text


def test_retry_sends_in_the_language_of_the_invitation(portal: ClientPortal) -> None:
    outbox(portal).fail_with = "down"
    with pytest.raises(Exception, match="down"):
        portal.invite(TENANT_A, "contact", 1, locale="de")
    outbox(portal).fail_with = None

    (failed,) = portal.list_invitations(TENANT_A)
    portal.retry_invitation(TENANT_A, failed.id)

    assert failed.locale == "de"
    assert outbox(portal).outbox[0].subject == GERMAN_SUBJECT


def test_bulk_invitations_take_a_locale(portal: ClientPortal) -> None:
    report = portal.invite_many(TENANT_A, [("contact", 1), ("company", 10)], locale="de")

    assert report.sent == 2
    assert [email.subject for email in outbox(portal).outbox] == [GERMAN_SUBJECT] * 2
    token = current_token(portal, "company", "10")
    assert token is not None
    assert token.locale == "de"


# -- validation ---------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["fr", "xx", "not a locale!", "de" * 20, ""])
def test_unknown_locale_is_422_and_sends_nothing(
    client: PortalClient, portal: ClientPortal, locale: str
) -> None:
    reply = client.post(f"{API}/contacts/1/invite", json={"locale": locale})

    assert reply.status == 422
    assert set(reply.json()["errors"]) == {"locale"}
    assert outbox(portal).outbox == []
    assert portal.list_invitations(TENANT_A) == []


def test_unknown_locale_names_the_installed_ones(client: PortalClient) -> None:
    reply = client.post(f"{API}/companies/10/invite", json={"locale": "fr"})

    assert reply.json()["errors"] == {"locale": ["unknown locale 'fr'; available: en, de"]}


@pytest.mark.parametrize("spelling", ["de", "DE", "de-DE", "de_AT", "de-CH"])
def test_a_region_or_case_matches_its_language(portal: ClientPortal, spelling: str) -> None:
    portal.invite(TENANT_A, "contact", 1, locale=spelling)

    (record,) = portal.list_invitations(TENANT_A)
    assert record.locale == "de"


def test_python_invite_refuses_an_unknown_locale(portal: ClientPortal) -> None:
    with pytest.raises(ValidationFailed) as raised:
        portal.invite(TENANT_A, "contact", 1, locale="fr")

    assert list(raised.value.errors) == ["locale"]
    assert portal.list_invitations(TENANT_A) == []


def test_tenant_locale_must_be_installed(client: PortalClient, portal: ClientPortal) -> None:
    with pytest.raises(ValidationError, match="unknown locale 'fr'"):
        portal.update_config(TENANT_A, locale="fr")

    portal.update_config(TENANT_A, locale="de-AT")

    assert client.get(f"{API}/config").json()["data"]["locale"] == "de"


# -- the renderer -------------------------------------------------------------------


def test_accept_language_is_sorted_by_quality() -> None:
    header = "en;q=0.5, de-AT, fr;q=0.8, *;q=0.1, it;q=0"

    assert parse_accept_language(header) == ["de_AT", "fr", "en"]


def test_renders_in_two_languages_at_once_never_mix(portal: ClientPortal) -> None:
    renderer = portal.renderer
    context = {"config": portal.get_config(TENANT_A), "preview": False}
    wrong: list[str] = []

    def render(locale: str, expected: str) -> None:
        for _ in range(200):
            subject = renderer.render("invitation_subject.txt", locale=locale, **context)
            if expected not in subject:
                wrong.append(subject)

    threads = [
        threading.Thread(target=render, args=(locale, expected))
        for locale, expected in [("de", "Ihre Einladung"), ("en", "Your invitation")] * 4
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert wrong == []


def compile_catalog(folder: Path, locale: str, messages: dict[str, str]) -> None:
    catalog = Catalog(locale=locale, domain="client_portal")
    for msgid, msgstr in messages.items():
        catalog.add(msgid, msgstr)
    target = folder / locale / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "client_portal.mo").open("wb") as fp:
        write_mo(fp, catalog)


def test_a_host_adds_a_language_with_a_catalog_in_locale_dirs(
    make_portal: Any, tmp_path: Path
) -> None:
    compile_catalog(
        tmp_path, "fr", {"Your invitation to %(portal)s": "Votre invitation à %(portal)s"}
    )
    portal = make_portal(locale_dirs=[str(tmp_path)])

    portal.invite(TENANT_A, "contact", 1, locale="fr")

    assert "fr" in portal.renderer.locales
    assert outbox(portal).outbox[0].subject == "Votre invitation à Client Portal"
    # What the host's catalog lacks stays in the source language.
    assert "Open your portal" in outbox(portal).outbox[0].html


def test_a_host_catalog_overrides_built_in_texts(make_portal: Any, tmp_path: Path) -> None:
    compile_catalog(tmp_path, "de", {"Hello %(name)s,": "Hallo %(name)s,"})
    portal = make_portal(locale_dirs=[str(tmp_path)])

    portal.invite(TENANT_A, "contact", 1, locale="de")

    email = outbox(portal).outbox[0]
    assert email.text.startswith("Hallo Ann Archer,")
    assert email.subject == GERMAN_SUBJECT  # the rest from the built-in catalog


def test_dates_are_formatted_for_the_locale() -> None:
    from datetime import UTC, datetime

    renderer = Renderer(Settings.build(secret_key=SECRET_KEY))
    moment = datetime(2030, 3, 9, 17, 5, tzinfo=UTC)

    assert renderer.format_datetime(moment, "en") == "March 9, 2030, 5:05\u00a0PM UTC"
    assert renderer.format_datetime(moment, "de") == "9. März 2030, 17:05 UTC"


# -- the catalogs -------------------------------------------------------------------


def shipped_locales() -> list[str]:
    return sorted(path.name for path in BUILTIN_LOCALE_DIR.iterdir() if path.is_dir())


def test_english_and_german_are_shipped() -> None:
    assert shipped_locales() == ["de", "en"]


@pytest.mark.parametrize("locale", shipped_locales())
def test_committed_mo_files_match_their_po(locale: str) -> None:
    po_path = BUILTIN_LOCALE_DIR / locale / f"{CATALOG}.po"
    with po_path.open("rb") as fp:
        source = read_po(fp, locale=locale)
    with (BUILTIN_LOCALE_DIR / locale / f"{CATALOG}.mo").open("rb") as fp:
        compiled = read_mo(fp)

    def translations(catalog: Catalog) -> dict[Any, Any]:
        # Plural entries come back as lists from a .mo, tuples from a .po.
        def key(value: Any) -> Any:
            return tuple(value) if isinstance(value, list | tuple) else value

        def translated(value: Any) -> bool:
            return any(value) if isinstance(value, list | tuple) else bool(value)

        return {
            key(m.id): key(m.string)
            for m in catalog
            if m.id and translated(m.string) and not m.fuzzy
        }

    assert translations(compiled) == translations(source), "run `make catalogs`"


def extracted_messages(tmp_path: Path) -> set[str]:
    """What `make catalogs` extracts from the sources today."""
    pot = tmp_path / "client_portal.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
         "-k", "N_", "-o", str(pot), "src/client_portal_core"],
        cwd=ROOT, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    with pot.open("rb") as fp:
        return {str(m.id) for m in read_po(fp) if m.id}


@pytest.mark.subprocess
def test_every_marked_text_has_a_german_translation(tmp_path: Path) -> None:
    with (BUILTIN_LOCALE_DIR / "de" / f"{CATALOG}.po").open("rb") as fp:
        german = read_po(fp, locale="de")
    translated = {str(m.id) for m in german if m.id and m.string and not m.fuzzy}

    missing = extracted_messages(tmp_path) - translated

    assert missing == set(), "run `make catalogs` and translate the new entries"
