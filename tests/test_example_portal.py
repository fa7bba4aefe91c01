"""The example hosts' portal, run for real: seeded items per subject, the host's own
invoice page, and the ``configure`` and ``set-token-expiry`` commands.

Each test talks to a served host over 127.0.0.1 with httpx (a cookie-keeping
client plays the browser), once per host.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from support import ROOT, BackgroundProcess, free_port, host_env, run_host_cli, wait_for_http

API = "/api/v1/client-portal"
PORTAL = "/client-portal"
SECRET = "example-portal-secret-key-000000"
ENV = {"CLIENT_PORTAL_SECRET_KEY": SECRET}
HOSTS = [
    pytest.param("examples.fastapi_host", id="fastapi"),
    pytest.param("examples.flask_host", id="flask"),
]


def cli(host: str, *args: str) -> Any:
    done = run_host_cli(host, *args, env=ENV)
    assert "Traceback" not in done.stderr
    return done


@pytest.fixture(scope="module", params=HOSTS)
def host(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def site(host: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A seeded database and ``serve`` on it: its URLs and seed document."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal.db'}"
    seeded = cli(host, "seed", "--database-url", database_url)
    assert seeded.returncode == 0, seeded.stderr
    port = free_port()
    command = [sys.executable, "-m", host, "serve", "--port", str(port)]
    command += ["--database-url", database_url]
    log_dir = tmp_path_factory.mktemp("serve")
    env = {**host_env(), **ENV}
    with BackgroundProcess(command, log_dir=log_dir, cwd=ROOT, env=env) as process:
        base_url = f"http://127.0.0.1:{port}"
        wait_for_http(base_url + "/healthz", process=process.process)
        yield {
            "host": host,
            "base_url": base_url,
            "database_url": database_url,
            "document": json.loads(seeded.stdout),
        }


def link(site: dict[str, Any], tenant: dict[str, Any], kind: str, subject_id: int) -> str:
    """A portal link of the subject, from the API."""
    reply = httpx.post(
        site["base_url"] + API + "/token",
        headers={"Authorization": f"Bearer {tenant['api_token']}"},
        json={"type": kind, "id": subject_id},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["url"])


def subjects(document: dict[str, Any]) -> list[tuple[dict[str, Any], str, dict[str, Any]]]:
    return [
        (tenant, kind.rstrip("s").replace("companie", "company"), subject)
        for tenant in document["tenants"]
        for kind in ("contacts", "companies")
        for subject in tenant[kind]
    ]


def test_each_subject_sees_exactly_its_seeded_titles(site: dict[str, Any]) -> None:
    every = subjects(site["document"])
    all_titles = {
        module: {title for _, _, s in every for title in s["portal_items"][module]}
        for module in ("invoices", "proposals", "tasks")
    }
    for tenant, kind, subject in every:
        with httpx.Client(base_url=site["base_url"], follow_redirects=True, timeout=30) as browser:
            landed = browser.get(link(site, tenant, kind, subject["id"]))
            assert str(landed.url) == site["base_url"] + PORTAL + "/"
            for module, own in subject["portal_items"].items():
                page = browser.get(f"{PORTAL}/{module}").text
                shown = {title for title in all_titles[module] if title in page}
                assert shown == set(own), (kind, subject["id"], module)


def test_the_hosts_own_invoice_page_uses_the_signed_in_client(site: dict[str, Any]) -> None:
    tenant = site["document"]["tenants"][0]
    contact = tenant["contacts"][0]
    with httpx.Client(base_url=site["base_url"], follow_redirects=True, timeout=30) as browser:
        browser.get(link(site, tenant, "contact", contact["id"]))
        invoices = browser.get(f"{PORTAL}/invoices").text
        first = invoices.split(f'href="{PORTAL}/invoices/', 1)[1].split('"', 1)[0]

        detail = browser.get(f"{PORTAL}/invoices/{first}")
        assert detail.status_code == 200
        assert contact["portal_items"]["invoices"][0] in detail.text
        assert browser.get(f"{PORTAL}/invoices/999999").status_code == 404

    anonymous = httpx.get(f"{site['base_url']}{PORTAL}/invoices/{first}", timeout=30)
    assert anonymous.status_code == 401
    assert "invitation email" in anonymous.text


def test_a_staff_preview_marks_the_portal_and_the_hosts_own_page(site: dict[str, Any]) -> None:
    tenant = site["document"]["tenants"][0]
    contact = tenant["contacts"][0]
    reply = httpx.post(
        site["base_url"] + API + "/token/preview",
        headers={"Authorization": f"Bearer {tenant['api_token']}"},
        json={"type": "contact", "id": contact["id"]},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    with httpx.Client(base_url=site["base_url"], follow_redirects=True, timeout=30) as browser:
        home = browser.get(reply.json()["url"])
        invoices = browser.get(f"{PORTAL}/invoices").text
        first = invoices.split(f'href="{PORTAL}/invoices/', 1)[1].split('"', 1)[0]
        detail = browser.get(f"{PORTAL}/invoices/{first}")

    assert str(home.url) == site["base_url"] + PORTAL + "/"
    for page in (home.text, invoices, detail.text):
        assert "data-preview-banner" in page
    assert contact["portal_items"]["invoices"][0] in detail.text


def test_another_subjects_invoice_is_not_found_on_the_hosts_page(site: dict[str, Any]) -> None:
    tenant = site["document"]["tenants"][0]
    first, second = tenant["contacts"][0], tenant["contacts"][1]
    with httpx.Client(base_url=site["base_url"], follow_redirects=True, timeout=30) as browser:
        browser.get(link(site, tenant, "contact", second["id"]))
        theirs = browser.get(f"{PORTAL}/invoices").text
        their_invoice = theirs.split(f'href="{PORTAL}/invoices/', 1)[1].split('"', 1)[0]
    with httpx.Client(base_url=site["base_url"], follow_redirects=True, timeout=30) as browser:
        browser.get(link(site, tenant, "contact", first["id"]))
        assert browser.get(f"{PORTAL}/invoices/{their_invoice}").status_code == 404


def test_configure_sets_the_branding_the_portal_shows(site: dict[str, Any]) -> None:
    tenant = site["document"]["tenants"][1]
    done = cli(
        site["host"], "configure", "--database-url", site["database_url"],
        "--tenant", str(tenant["id"]), "--portal-name", "Globex Client Room",
        "--primary-color", "#7c2d12", "--enabled-modules", "invoices,tasks",
        "--show-activity-feed", "false",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)["data"]
    assert (printed["portal_name"], printed["primary_color"]) == ("Globex Client Room", "#7C2D12")
    assert printed["enabled_modules"] == ["invoices", "tasks"]

    contact = tenant["contacts"][0]
    with httpx.Client(base_url=site["base_url"], follow_redirects=True, timeout=30) as browser:
        # Another process changed the configuration: within its cache time (5 s) at most.
        home = browser.get(link(site, tenant, "contact", contact["id"]))
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while "Globex Client Room" not in home.text and datetime.now(UTC) < deadline:
            time.sleep(0.2)  # a bounded poll: the deadline decides, not the pause
            home = browser.get(f"{PORTAL}/")
        assert "Globex Client Room" in home.text
        assert browser.get(f"{PORTAL}/proposals").status_code == 404


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        pytest.param(["--primary-color", "red"], "--primary-color", id="bad-color"),
        pytest.param(["--token-expiration-days", "0"], "--token-expiration-days", id="bad-days"),
        pytest.param(["--enabled-modules", "crm"], "--enabled-modules", id="bad-module"),
        pytest.param(["--is-active", "maybe"], "--is-active", id="bad-boolean"),
    ],
)
def test_configure_refuses_invalid_values_with_exit_2(
    site: dict[str, Any], args: list[str], complaint: str
) -> None:
    tenant = str(site["document"]["tenants"][0]["id"])
    done = cli(
        site["host"], "configure", "--database-url", site["database_url"], "--tenant", tenant, *args
    )

    assert done.returncode == 2
    assert complaint in done.stderr


def test_configure_of_an_unknown_tenant_exits_2(site: dict[str, Any]) -> None:
    done = cli(
        site["host"], "configure", "--database-url", site["database_url"], "--tenant", "9999"
    )

    assert done.returncode == 2
    assert "no tenant 9999" in done.stderr


def test_set_token_expiry_ends_and_extends_a_link(site: dict[str, Any]) -> None:
    tenant = site["document"]["tenants"][0]
    url = link(site, tenant, "company", tenant["companies"][0]["id"])
    token = url.rsplit("/", 1)[1]

    def set_expiry(moment: str) -> Any:
        return cli(
            site["host"], "set-token-expiry", "--database-url", site["database_url"],
            "--token", token, "--expires-at", moment,
        )  # fmt: skip

    past = set_expiry("2020-01-01T00:00:00Z")
    assert past.returncode == 0, past.stderr
    assert json.loads(past.stdout)["expires_at"] == "2020-01-01T00:00:00Z"
    assert httpx.get(url, timeout=30).status_code == 410

    later = (datetime.now(UTC) + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert set_expiry(later).returncode == 0
    assert httpx.get(url, timeout=30).status_code == 303


@pytest.mark.parametrize(
    ("args", "code", "complaint"),
    [
        pytest.param(
            ["--token", "abc.def", "--expires-at", "2030-01-01"], 1, "no such", id="bad-token"
        ),
        pytest.param(["--token", "abc.def", "--expires-at", "soon"], 2, "ISO 8601", id="bad-time"),
        # One token in 64 starts with "-": it is a value, never an option.
        pytest.param(
            ["--token", "-bc.def", "--expires-at", "2030-01-01"], 1, "no such", id="dash-token"
        ),
    ],
)
def test_set_token_expiry_refuses_what_it_cannot_use(
    site: dict[str, Any], args: list[str], code: int, complaint: str
) -> None:
    done = cli(site["host"], "set-token-expiry", "--database-url", site["database_url"], *args)

    assert done.returncode == code
    assert complaint in done.stderr
