"""End to end, in a real browser: a client opens the invitation and uses the portal.

Headless Chromium (Debian's ``chromium`` package, driven by Playwright for
Python pointed at ``/usr/bin/chromium``) against both example hosts started
as real servers (``serve``) that mail through a real SMTP server on
loopback. At desktop width and at 390 px, the test reads the invitation from
SMTP, opens the HTML part's link, lands on the branded portal with the token
gone from the address bar, sees the seeded invoice titles, reloads and stays
signed in, opens the host's own invoice page, signs out and is out; then, on
an expired link (``set-token-expiry``), uses "Email me a new link" and opens
the new link it receives.

Screenshots of every step go to ``artifacts/screenshots/`` (git-ignored;
CI keeps them as artifacts). Every wait is bounded.
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import (
    ROOT,
    BackgroundProcess,
    ReceivedMail,
    SmtpSink,
    free_port,
    host_env,
    run_host_cli,
    wait_for_http,
)

CHROMIUM = Path("/usr/bin/chromium")
#: Where the screenshots go (named in the README).
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET = "browser-e2e-secret-key-0000000000"
ENV = {"CLIENT_PORTAL_SECRET_KEY": SECRET}
PORTAL = "/client-portal"
#: Bounded waits: every browser step and every mail wait gives up after these.
STEP_MS = 20_000
MAIL_SECONDS = 30
WIDTHS = [
    pytest.param({"width": 1280, "height": 900}, "contacts", id="desktop"),
    pytest.param({"width": 390, "height": 844}, "companies", id="390px"),
]
HOSTS = [
    pytest.param("examples.fastapi_host", id="fastapi"),
    pytest.param("examples.flask_host", id="flask"),
]


def _require_browser() -> None:
    problem = None
    if not CHROMIUM.exists():
        problem = "Debian's chromium is not installed (make test installs it)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "Playwright for Python is not installed (the dev extra has it)"
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{problem} (CI is set, so this is a failure, not a skip)")
    pytest.skip(problem)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the module (a fresh context per test)."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, timeout=60_000
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def smtp_sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="module", params=HOSTS)
def site(
    request: pytest.FixtureRequest, smtp_sink: SmtpSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """One example host, seeded and served, mailing through ``smtp_sink``."""
    host: str = request.param
    database_url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal.db'}"
    seeded = run_host_cli(host, "seed", "--database-url", database_url, env=ENV)
    assert seeded.returncode == 0, seeded.stderr
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", host, "serve", "--port", str(port)]
    command += ["--database-url", database_url, "--smtp-url", smtp_sink.url]
    command += ["--public-url", base_url]
    log_dir = tmp_path_factory.mktemp("serve")
    with BackgroundProcess(command, log_dir=log_dir, cwd=ROOT, env={**host_env(), **ENV}) as server:
        try:
            wait_for_http(base_url + "/healthz", process=server.process)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"{exc}\nstdout:\n{server.stdout()}\nstderr:\n{server.stderr()}")
        yield {
            "host": host,
            "base_url": base_url,
            "database_url": database_url,
            "document": json.loads(seeded.stdout),
        }


def portal_link(mail: ReceivedMail) -> str:
    """The portal link of the invitation's HTML part (its first link to the portal)."""
    part = mail.message.get_body(preferencelist=("html",))
    assert part is not None, "the invitation has no HTML part"
    links = [html.unescape(href) for href in re.findall(r'href="([^"]+)"', part.get_content())]
    found = [href for href in links if f"{PORTAL}/" in href]
    assert found, f"no portal link among {links}"
    return found[0]


def wait_for_invitation(
    sink: SmtpSink, base_url: str, address: str, not_link: str | None = None
) -> str:
    """The portal link of an invitation to ``address`` from the server at ``base_url``
    (other than ``not_link``): both hosts seed the same addresses."""

    def matches(mail: ReceivedMail) -> bool:
        found = portal_link(mail)
        return address in mail.rcpt_tos and found.startswith(base_url) and found != not_link

    return portal_link(sink.wait_for(matches, timeout=MAIL_SECONDS))


@pytest.mark.parametrize(("viewport", "kind"), WIDTHS)
def test_a_client_opens_the_invitation_uses_the_portal_and_renews_an_expired_link(
    chromium: Any,
    site: dict[str, Any],
    smtp_sink: SmtpSink,
    viewport: dict[str, int],
    kind: str,
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = "desktop" if viewport["width"] > 600 else f"{viewport['width']}px"
    prefix = f"{site['host'].split('.')[1].removesuffix('_host')}-{width}"
    tenant = site["document"]["tenants"][0]  # the branded one
    subject = next(s for s in tenant[kind] if s["email"])
    address = subject["email"]
    base = site["base_url"]
    api = httpx.Client(
        base_url=base + "/api/v1/client-portal",
        headers={"Authorization": f"Bearer {tenant['api_token']}"},
        timeout=30,
    )
    path = "contacts" if kind == "contacts" else "companies"
    assert api.post(f"/{path}/{subject['id']}/invite", json={}).status_code == 200
    link = wait_for_invitation(smtp_sink, base, address)
    token = link.rsplit("/", 1)[1]
    context = chromium.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(STEP_MS)

    def shot(step: str) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{prefix}-{step}.png"), full_page=True)

    try:
        # The invitation's link: lands on the branded home, the token gone.
        response = page.goto(link)
        assert response is not None
        assert page.url == f"{base}{PORTAL}/"
        assert token not in page.url
        assert "Acme Accounting Portal" in page.locator("header").inner_text()
        assert page.get_by_role("button", name="Sign out").is_visible()
        shot("1-home")

        # The invoices page shows exactly the seeded titles; a reload keeps the session.
        page.locator("nav.tabs").get_by_role("link", name="Invoices").click()
        page.wait_for_url(f"{base}{PORTAL}/invoices")
        for title in subject["portal_items"]["invoices"]:
            assert page.get_by_text(title).is_visible()
        shot("2-invoices")
        page.reload()
        assert page.url == f"{base}{PORTAL}/invoices"
        assert page.get_by_text(subject["portal_items"]["invoices"][0]).is_visible()

        # The host's own page behind the portal knows who is signed in.
        page.get_by_role("link", name=subject["portal_items"]["invoices"][0]).click()
        page.wait_for_url(re.compile(rf".*{PORTAL}/invoices/\d+$"))
        assert page.locator("h1").inner_text() == subject["portal_items"]["invoices"][0]
        shot("3-host-invoice-page")

        # Sign out: the signed-out page, and the portal is closed afterwards.
        page.goto(f"{base}{PORTAL}/")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(re.compile(rf".*{PORTAL}/signed-out.*"))
        assert "You are signed out" in page.content()
        assert "Acme Accounting Portal" in page.locator("header").inner_text()
        shot("4-signed-out")
        closed = page.goto(f"{base}{PORTAL}/invoices")
        assert closed is not None
        assert closed.status == 401
        assert subject["portal_items"]["invoices"][0] not in page.content()
        shot("5-signed-out-401")

        # An expired link offers "Email me a new link", which sends a working one.
        moved = run_host_cli(
            site["host"], "set-token-expiry", "--database-url", site["database_url"],
            "--token", token, "--expires-at", "2020-01-01T00:00:00Z", env=ENV,
        )  # fmt: skip
        assert moved.returncode == 0, moved.stderr
        expired = page.goto(link)
        assert expired is not None
        assert expired.status == 410
        shot("6-expired")
        page.get_by_role("button", name="Email me a new link").click()
        page.wait_for_load_state()
        masked = f"{address[0]}•••@{address.split('@')[1]}"
        assert masked in page.content()
        assert address not in page.content()
        shot("7-renewal-sent")
        new_link = wait_for_invitation(smtp_sink, base, address, not_link=link)
        page.goto(new_link)
        assert page.url == f"{base}{PORTAL}/"
        assert new_link.rsplit("/", 1)[1] not in page.url
        assert page.get_by_role("button", name="Sign out").is_visible()
        shot("8-new-link-home")
    finally:
        context.close()
        api.close()
