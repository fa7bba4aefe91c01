"""The HTML invitation in a real browser (headless Chromium): nothing overflows a phone.

Screenshots at 390 px (a phone) and 1280 px (a desktop mail client's reading
pane is narrower, but a browser opening the ``.html`` is not) land in
``artifacts/screenshots/`` (git-ignored), for people and CI artifacts.
Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client_portal_core import ClientPortal, MemoryMailer, Settings
from conftest import SECRET_KEY, TENANT_A, Directory, FakeClock

ROOT = Path(__file__).resolve().parents[1]
#: Where screenshots go (named in the README).
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("CLIENT_PORTAL_TEST_CHROMIUM", "/usr/bin/chromium")

WIDTHS = [pytest.param(390, id="phone-390"), pytest.param(1280, id="desktop-1280")]

#: Elements whose right edge passes the viewport's (none may).
OVERFLOWING = """() => Array.from(document.querySelectorAll('body *'))
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
    .map(e => e.tagName.toLowerCase() + ' ' + (e.textContent || '').trim().slice(0, 40))"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium; missing it skips outside CI and fails in CI."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - dev extra not installed
        if os.environ.get("CI"):
            raise
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def sqlite_portal(tmp_path: Path, directory: Directory, clock: FakeClock) -> Iterator[ClientPortal]:
    """One portal on SQLite: what the email looks like does not depend on the database."""
    settings = Settings.build(
        secret_key=SECRET_KEY,
        database_url=f"sqlite:///{tmp_path / 'portal.db'}",
        public_url="https://clients.acme-accounting.example.com/portal/app",
        load_entry_points=False,
    )
    portal = ClientPortal(settings, plugins=[directory], clock=clock, mailer=MemoryMailer())
    portal.create_schema()
    try:
        yield portal
    finally:
        portal.engine.dispose()


def invitation_html(portal: ClientPortal, locale: str) -> str:
    """A real invitation with everything long: name, message, link."""
    portal.update_config(
        TENANT_A,
        portal_name="Acme Accounting & Tax Advisory Partners International",
        primary_color="#0F766E",
        secondary_color="#134E4A",
    )
    portal.invite(
        TENANT_A,
        "contact",
        1,
        custom_message=(
            "Your annual statements are ready for review.\n"
            "Reference: ACME-2030-STATEMENTS-Q4-FINAL-REVIEW-0000000042"
        ),
        locale=locale,
    )
    mailer = portal.mailer
    assert isinstance(mailer, MemoryMailer)
    return mailer.outbox[-1].html


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("width", WIDTHS)
def test_html_email_fits_the_screen_and_the_link_wraps(
    browser: Any, sqlite_portal: ClientPortal, width: int, locale: str
) -> None:
    html = invitation_html(sqlite_portal, locale)
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.set_content(html)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"invitation-{locale}-{width}.png"), full_page=True)

        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        overflowing = page.evaluate(OVERFLOWING)
        card = page.locator('table[style*="max-width:560px"]').bounding_box()
        button = page.locator("a").first.bounding_box()
        raw_link = page.locator("a").nth(1).bounding_box()
        line_height = (
            page.locator("a").nth(1).evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
        )
    finally:
        page.close()

    assert scroll_width <= width
    assert overflowing == []
    assert card is not None
    assert button is not None
    assert raw_link is not None
    assert card["x"] >= 0
    assert card["x"] + card["width"] <= width
    assert card["x"] < button["x"]
    assert button["x"] + button["width"] < card["x"] + card["width"]
    assert raw_link["x"] + raw_link["width"] <= card["x"] + card["width"]
    if width == 390:
        # The long link cannot fit one line on a phone: it wraps instead of widening.
        assert raw_link["height"] > 1.5 * line_height
