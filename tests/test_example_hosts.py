"""The example hosts' command lines, run for real: ``python -m examples.<host>_host``.

Each test runs the documented commands as subprocesses against a temporary
SQLite file and talks to the served app over 127.0.0.1 only, once per host.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import (
    ROOT,
    BackgroundProcess,
    SmtpSink,
    WebhookSink,
    free_port,
    host_env,
    run_host_cli,
    wait_for_http,
)

API = "/api/v1/client-portal"
HOSTS = [
    pytest.param("examples.fastapi_host", id="fastapi"),
    pytest.param("examples.flask_host", id="flask"),
]


def seed(module: str, database_url: str) -> dict[str, Any]:
    """The JSON document printed by ``seed``."""
    done = run_host_cli(module, "seed", "--database-url", database_url)
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def subject(tenant: dict[str, Any], kind: str, *, with_email: bool) -> int:
    """The id of the tenant's first contact or company with (or without) an email."""
    return int(next(s["id"] for s in tenant[kind] if (s["email"] is not None) == with_email))


@dataclass
class Served:
    """A running ``serve`` process and what the test knows about it."""

    module: str
    base_url: str
    document: dict[str, Any]
    process: BackgroundProcess

    def call(self, method: str, path: str, tenant: int = 0, **kwargs: Any) -> httpx.Response:
        """Call the API as the seeded ``tenant`` (an index into the seed document)."""
        token = self.document["tenants"][tenant]["api_token"]
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.request(
            method, self.base_url + API + path, headers=headers, timeout=30, **kwargs
        )


@pytest.fixture(scope="module", params=HOSTS)
def host(request: pytest.FixtureRequest) -> str:
    """The module of one example host."""
    module: str = request.param
    return module


@pytest.fixture(scope="module")
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server the served hosts send their invitations to."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def webhook_sink() -> Iterator[WebhookSink]:
    """A real HTTP server the served hosts deliver webhooks to."""
    with WebhookSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def seeded(host: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """A SQLite database URL seeded by the host's ``seed``, and its document."""
    database = tmp_path_factory.mktemp("db") / "portal.db"
    url = f"sqlite:///{database}"
    return url, seed(host, url)


@pytest.fixture(scope="module")
def served(
    host: str,
    seeded: tuple[str, dict[str, Any]],
    smtp_sink: SmtpSink,
    webhook_sink: WebhookSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """``serve`` on the seeded database, mailing through ``smtp_sink``."""
    database_url, document = seeded
    added = run_host_cli(
        host,
        "add-webhook",
        "--database-url",
        database_url,
        "--tenant",
        str(document["tenants"][0]["id"]),
        "--url",
        f"{webhook_sink.url}/{host}",
    )
    assert added.returncode == 0, added.stderr
    port = free_port()
    command = [sys.executable, "-m", host, "serve", "--port", str(port)]
    command += ["--database-url", database_url, "--smtp-url", smtp_sink.url]
    log_dir = tmp_path_factory.mktemp("serve")
    with BackgroundProcess(command, log_dir=log_dir, cwd=ROOT, env=host_env()) as process:
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(base_url + "/healthz", process=process.process)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"{exc}\nstdout:\n{process.stdout()}\nstderr:\n{process.stderr()}")
        yield Served(host, base_url, document, process)


# -- seed ---------------------------------------------------------------------


def check_seed_document(document: dict[str, Any]) -> None:
    """Assert the documented shape of a seed document."""
    assert set(document) == {"tenants"}
    tenants = document["tenants"]
    assert len(tenants) >= 2
    for tenant in tenants:
        assert set(tenant) == {"id", "api_token", "contacts", "companies"}
        assert isinstance(tenant["id"], int)
        assert isinstance(tenant["api_token"], str)
        assert tenant["api_token"]
        for kind in ("contacts", "companies"):
            for item in tenant[kind]:
                assert set(item) == {"id", "email", "portal_items"}
                assert set(item["portal_items"]) == {"invoices", "proposals", "tasks"}
                assert all(item["portal_items"].values()), "every subject has items"
                assert isinstance(item["id"], int)
                assert item["email"] is None or "@" in item["email"]
            emails = [item["email"] for item in tenant[kind]]
            assert any(e is not None for e in emails), f"{kind} need one with an email"
            assert any(e is None for e in emails), f"{kind} need one without an email"
    for key in ("id", "api_token"):
        values = [tenant[key] for tenant in tenants]
        assert len(set(values)) == len(values), f"tenant {key}s repeat"
    for kind in ("contacts", "companies"):
        ids = [item["id"] for tenant in tenants for item in tenant[kind]]
        assert len(set(ids)) == len(ids), f"{kind} ids repeat across tenants"
    titles = [
        title
        for tenant in tenants
        for kind in ("contacts", "companies")
        for item in tenant[kind]
        for found in item["portal_items"].values()
        for title in found
    ]
    assert len(set(titles)) == len(titles), "a title appears for two subjects"


def test_seed_prints_the_documented_json(seeded: tuple[str, dict[str, Any]]) -> None:
    check_seed_document(seeded[1])


def test_seed_again_on_the_same_database_adds_new_tenants(
    host: str, tmp_path: Path, seeded: tuple[str, dict[str, Any]]
) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    first, second = seed(host, url), seed(host, url)
    check_seed_document(second)
    first_ids = {t["id"] for t in first["tenants"]}
    assert first_ids.isdisjoint(t["id"] for t in second["tenants"])


def test_a_key_kept_in_the_database_is_announced_on_stderr(host: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"

    without_key = run_host_cli(host, "seed", "--database-url", url)
    with_key = run_host_cli(
        host, "seed", "--database-url", url, env={"CLIENT_PORTAL_SECRET_KEY": "k" * 32}
    )

    assert without_key.returncode == with_key.returncode == 0
    assert "a copy of the database opens every portal link" in without_key.stderr
    assert "secret-key" not in with_key.stderr


def test_falling_back_to_the_demo_key_on_a_database_used_with_another_key_warns(
    host: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    real_key = {"CLIENT_PORTAL_SECRET_KEY": "k" * 32}
    seeded = run_host_cli(host, "seed", "--database-url", url, env=real_key)
    tenant = str(json.loads(seeded.stdout)["tenants"][0]["id"])
    add = ["add-webhook", "--database-url", url, "--tenant", tenant, "--url", "http://127.0.0.1:9/"]

    with_key = run_host_cli(host, *add, env=real_key)
    without_key = run_host_cli(host, *add)

    assert with_key.returncode == without_key.returncode == 0
    assert "in use with another key" not in with_key.stderr
    assert "in use with another key" in without_key.stderr


def test_a_pure_demo_database_gets_no_other_key_warning(host: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"

    first, second = (run_host_cli(host, "seed", "--database-url", url) for _ in range(2))

    assert "a copy of the database opens every portal link" in second.stderr
    assert "in use with another key" not in first.stderr + second.stderr


# -- serve ----------------------------------------------------------------------


def test_healthz_answers_ok(served: Served) -> None:
    response = httpx.get(served.base_url + "/healthz", timeout=30)
    assert response.status_code == 200
    assert response.content == b'{"status":"ok"}'  # the same bytes on both hosts
    assert response.headers["content-type"] == "application/json"
    assert httpx.head(served.base_url + "/healthz").status_code == 200


def test_config_answers_200(served: Served) -> None:
    response = served.call("GET", "/config")
    assert response.status_code == 200
    assert response.json()["data"]["is_active"] is True


def test_token_get_or_create_returns_the_same_token_twice(served: Served) -> None:
    contact = subject(served.document["tenants"][0], "contacts", with_email=True)
    body = {"type": "contact", "id": contact}
    first, second = (served.call("POST", "/token", json=body) for _ in range(2))
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()


def test_invite_of_a_contact_without_email_is_400(served: Served) -> None:
    contact = subject(served.document["tenants"][0], "contacts", with_email=False)
    response = served.call("POST", f"/contacts/{contact}/invite", json={})
    assert response.status_code == 400
    assert response.json() == {"message": "Contact does not have an email address"}


def test_another_tenants_contact_is_404(served: Served) -> None:
    foreign = subject(served.document["tenants"][1], "contacts", with_email=True)
    invite = served.call("POST", f"/contacts/{foreign}/invite", json={})
    token = served.call("POST", "/token", json={"type": "contact", "id": foreign})
    assert (invite.status_code, token.status_code) == (404, 404)
    assert invite.json() == {"message": "Contact not found"}


def test_several_authorization_headers_are_refused_on_both_servers(served: Served) -> None:
    # uvicorn passes both headers on, waitress joins them: either way, no guessing.
    token = served.document["tenants"][0]["api_token"]
    reply = httpx.get(
        served.base_url + API + "/config",
        headers=[("Authorization", f"Bearer {token}"), ("Authorization", "Bearer cpk_other")],
        timeout=30,
    )

    assert reply.status_code == 401
    assert reply.json() == {"message": "Unauthenticated."}


def test_several_content_type_headers_are_refused_on_both_servers(served: Served) -> None:
    # uvicorn passes both headers on, waitress joins them: the core refuses either way.
    token = served.document["tenants"][0]["api_token"]
    contact = subject(served.document["tenants"][0], "contacts", with_email=True)
    reply = httpx.post(
        served.base_url + API + "/token",
        content=json.dumps({"type": "contact", "id": contact}),
        headers=[
            ("Authorization", f"Bearer {token}"),
            ("Content-Type", "application/json"),
            ("Content-Type", "application/json"),
        ],
        timeout=30,
    )

    assert reply.status_code == 415
    assert reply.json() == {"message": "Content-Type must be application/json"}


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "FROBNICATE"])
def test_odd_methods_are_the_core_405_on_both_servers(served: Served, method: str) -> None:
    reply = served.call(method, "/config")

    assert reply.status_code == 405
    assert reply.json() == {"message": "Method Not Allowed"}
    assert reply.headers["Allow"] == "GET, HEAD, PATCH"
    assert "X-RateLimit-Remaining" in reply.headers


def test_a_doubled_slash_is_the_core_404_on_both_servers(served: Served) -> None:
    reply = served.call("GET", "//config")

    assert reply.status_code == 404
    assert reply.json() == {"message": "Not Found"}


def test_invitation_email_arrives_over_smtp(served: Served, smtp_sink: SmtpSink) -> None:
    tenant = served.document["tenants"][0]
    company = subject(tenant, "companies", with_email=True)
    address = next(c["email"] for c in tenant["companies"] if c["id"] == company)
    response = served.call("POST", f"/companies/{company}/invite", json={})
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    # Both hosts seed the same addresses: match on the token, unique to this host.
    mail = smtp_sink.wait_for(lambda m: address in m.rcpt_tos and token in m.text())
    assert f"{served.base_url}/client-portal/{token}" in mail.text()


def test_portal_url_from_the_token_opens_an_html_page(served: Served) -> None:
    contact = subject(served.document["tenants"][0], "contacts", with_email=True)
    issued = served.call("POST", "/token", json={"type": "contact", "id": contact}).json()
    assert issued["url"].startswith(served.base_url + "/")
    with httpx.Client(follow_redirects=True) as browser:
        page = browser.get(issued["url"])
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text.lower()


def test_a_second_server_on_the_same_database_opens_the_first_ones_links(
    served: Served, seeded: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    # Without --secret-key the key is generated once and kept in the database,
    # so every process on it (and every restart) verifies the same links.
    contact = subject(served.document["tenants"][0], "contacts", with_email=True)
    issued = served.call("POST", "/token", json={"type": "contact", "id": contact}).json()
    port = free_port()
    command = [sys.executable, "-m", served.module, "serve", "--port", str(port)]
    command += ["--database-url", seeded[0]]
    with BackgroundProcess(command, log_dir=tmp_path, cwd=ROOT, env=host_env()) as second:
        other_base = f"http://127.0.0.1:{port}"
        wait_for_http(other_base + "/healthz", process=second.process)
        path = issued["url"].removeprefix(served.base_url)
        with httpx.Client(follow_redirects=True) as browser:
            page = browser.get(other_base + path)
    assert page.status_code == 200


def test_webhook_added_on_the_command_line_is_delivered(
    served: Served, webhook_sink: WebhookSink
) -> None:
    contact = subject(served.document["tenants"][0], "contacts", with_email=True)
    served.call("POST", f"/contacts/{contact}/invite", json={}).raise_for_status()
    delivery = webhook_sink.wait_for(
        lambda r: (
            r.path == f"/{served.module}"
            and json.loads(r.body)["type"] == "client_portal.invitation_sent"
        )
    )
    assert delivery.headers["webhook-signature"].startswith("v1,")


def visit_ip(served: Served, webhook_sink: WebhookSink, base_url: str, contact: int) -> str:
    """The ``ip`` that ``token_accessed`` records for a visit claiming X-Forwarded-For."""
    issued = served.call("POST", "/token", json={"type": "contact", "id": contact}).json()
    path = issued["url"].removeprefix(served.base_url)
    seen = {r.headers["webhook-id"] for r in webhook_sink.inbox.items()}
    reply = httpx.get(base_url + path, headers={"X-Forwarded-For": "203.0.113.9"}, timeout=30)
    assert reply.status_code in (200, 303), reply.text
    delivery = webhook_sink.wait_for(
        lambda r: (
            r.path == f"/{served.module}"
            and r.headers["webhook-id"] not in seen
            and json.loads(r.body)["type"] == "client_portal.token_accessed"
            and json.loads(r.body)["data"]["subject_id"] == str(contact)
        )
    )
    ip: str = json.loads(delivery.body)["data"]["ip"]
    return ip


def test_a_client_cannot_choose_the_address_recorded_for_its_visit(
    served: Served, webhook_sink: WebhookSink
) -> None:
    tenant = served.document["tenants"][0]
    contact = int(tenant["contacts"][0]["id"])

    assert visit_ip(served, webhook_sink, served.base_url, contact) == "127.0.0.1"


def test_forwarded_allow_ips_trusts_x_forwarded_for_from_those_addresses(
    served: Served, seeded: tuple[str, dict[str, Any]], webhook_sink: WebhookSink, tmp_path: Path
) -> None:
    tenant = served.document["tenants"][0]
    contact = int(tenant["contacts"][-1]["id"])
    port = free_port()
    command = [sys.executable, "-m", served.module, "serve", "--port", str(port)]
    command += ["--database-url", seeded[0], "--forwarded-allow-ips", "10.0.0.0/8,127.0.0.1"]
    with BackgroundProcess(command, log_dir=tmp_path, cwd=ROOT, env=host_env()) as second:
        other_base = f"http://127.0.0.1:{port}"
        wait_for_http(other_base + "/healthz", process=second.process)
        ip = visit_ip(served, webhook_sink, other_base, contact)

    assert ip == "203.0.113.9"


@pytest.mark.parametrize("value", ["not-an-ip", "127.0.0.1,", "300.1.1.1"])
def test_forwarded_allow_ips_must_be_addresses(host: str, value: str) -> None:
    done = run_host_cli(host, "serve", "--port", "1", "--forwarded-allow-ips", value)

    assert done.returncode == 2
    assert "--forwarded-allow-ips" in done.stderr


# -- serve --demo -----------------------------------------------------------------


def replay_curl(line: str) -> httpx.Response:
    """Run a printed ``curl`` line with httpx, as a shell would split it."""
    args = shlex.split(line)
    assert args[0] == "curl"
    method, headers, data, url = "GET", {}, None, None
    position = 1
    while position < len(args):
        arg = args[position]
        if arg in ("-X", "-H", "-d"):
            value = args[position + 1]
            position += 2
            if arg == "-X":
                method = value
            elif arg == "-H":
                name, _, header = value.partition(": ")
                headers[name] = header
            else:
                data = value
        elif arg.startswith("-"):
            position += 1  # output flags such as -sS -i
        else:
            url, position = arg, position + 1
    assert url is not None
    if data is not None:
        assert headers.get("Content-Type") == "application/json"
    return httpx.request(method, url, headers=headers, content=data, timeout=30)


def test_demo_prints_curl_lines_that_work(host: str, tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", host, "serve", "--port", str(port), "--demo"]
    command += ["--database-url", f"sqlite:///{tmp_path / 'demo.db'}"]
    with BackgroundProcess(command, log_dir=tmp_path, cwd=ROOT, env=host_env()) as process:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process=process.process)
        output = process.stdout()
        tokens = re.findall(r"API token (\S+)", output)
        curl_lines = [line.strip() for line in output.splitlines() if "curl " in line]
        assert len(tokens) >= 2
        assert len(curl_lines) >= 5
        for line in curl_lines:
            assert f"-H 'Authorization: Bearer {tokens[0]}'" in line
        statuses = [replay_curl(line).status_code for line in curl_lines]
    # config, token, contact invite, company invite, no-email contact, other tenant
    assert statuses == [200, 200, 200, 200, 400, 404]


def test_demo_writes_each_email_to_the_outbox_and_prints_its_paths(
    host: str, tmp_path: Path
) -> None:
    port = free_port()
    command = [sys.executable, "-m", host, "serve", "--port", str(port), "--demo"]
    command += ["--database-url", f"sqlite:///{tmp_path / 'demo.db'}"]
    with BackgroundProcess(command, log_dir=tmp_path, cwd=ROOT, env=host_env()) as process:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process=process.process)
        invite = next(line.strip() for line in process.stdout().splitlines() if "/invite" in line)
        reply = replay_curl(invite)
        output = process.wait_for_output(lambda out: ".html" in out)

    assert reply.status_code == 200
    outbox = tmp_path / "outbox"
    (eml,) = outbox.glob("*.eml")
    (html,) = outbox.glob("*.html")
    assert str(eml) in output
    assert str(html) in output
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["Auto-Submitted"] == "auto-generated"
    assert reply.json()["token"] in html.read_text(encoding="utf-8")


# -- errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        pytest.param(["--public-url", "ftp://example.com"], "--public-url", id="bad-url"),
        pytest.param(["--rate-limit", "lots"], "--rate-limit", id="bad-rate-limit"),
    ],
)
def test_invalid_option_exits_2_with_a_message(host: str, args: list[str], complaint: str) -> None:
    done = run_host_cli(host, "serve", "--port", str(free_port()), *args)
    assert done.returncode == 2
    assert complaint in done.stderr
    assert "Traceback" not in done.stderr


def test_add_webhook_prints_its_secret_or_says_unsupported(
    host: str, seeded: tuple[str, dict[str, Any]]
) -> None:
    database_url, document = seeded
    tenant = str(document["tenants"][1]["id"])
    done = run_host_cli(
        host, "add-webhook", "--database-url", database_url, "--tenant", tenant,
        "--url", "http://127.0.0.1:9/hook", "--event", "client_portal.token_created",
    )  # fmt: skip
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert set(printed) == {"id", "secret"}
    assert printed["secret"].startswith("whsec_")
