"""The README's embedding examples run as written and serve the API.

Each example is executed with a stand-in for the host's ``my_db`` (the only
name the README leaves to the reader), in a temporary working directory
(the examples use the default SQLite file), then called over its framework's
test client with the API token the example prints.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _example(heading: str) -> str:
    """The first ```python block after ``## {heading}``."""
    text = README.read_text()
    section = text[text.index(f"## {heading}") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, f"no python example under {heading!r}"
    return match.group(1)


class FakeHostDatabase:
    """Stands for the host's own contacts: tenant-1 has contact 7 with an email,
    and two invoices."""

    def find(self, tenant_id: str, kind: str, subject_id: str) -> Any:
        if (tenant_id, kind, subject_id) == ("tenant-1", "contact", "7"):
            return SimpleNamespace(id=7, name="Grace Host", email="grace@example.com")
        return None

    def invoices(self, tenant_id: str, kind: str, subject_id: str) -> list[tuple[str, str, str]]:
        if (tenant_id, kind, subject_id) == ("tenant-1", "contact", "7"):
            return [("2030-001", "1200.50", "Open"), ("2030-002", "80", "Paid")]
        return []


def _section_examples(heading: str) -> list[str]:
    """Every ```python block of the section under ``#... {heading}`` (up to the next heading
    of the same level or higher)."""
    text = README.read_text()
    start = re.search(rf"^(#+) {re.escape(heading)}\s*$", text, re.MULTILINE)
    assert start is not None, f"no section {heading!r}"
    level = len(start.group(1))
    rest = text[start.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    section = rest if end is None else rest[: end.start()]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


def _sign_in(portal: Any, client: Any) -> None:
    """Open contact 7's portal link with ``client`` (it keeps the session cookie)."""
    token = portal.get_or_create_token("tenant-1", "contact", 7).token
    landed = client.get(f"/client-portal/{token}")
    assert landed.status_code == 303


def _run(code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], str]:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"my_db": FakeHostDatabase(), "__name__": "readme_example"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), namespace)
    return namespace, printed.getvalue()


def test_fastapi_example_serves_the_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    namespace, printed = _run(_example("Embedding in FastAPI"), tmp_path, monkeypatch)
    api_token = printed.strip().splitlines()[-1]
    client = TestClient(namespace["app"])
    headers = {"Authorization": f"Bearer {api_token}"}

    assert client.get("/api/v1/client-portal/config", headers=headers).status_code == 200
    reply = client.post(
        "/api/v1/client-portal/token", headers=headers, json={"type": "contact", "id": 7}
    )
    assert reply.status_code == 200
    assert reply.json()["url"].startswith("https://app.example.com/client-portal/")
    namespace["portal"].engine.dispose()


def test_flask_example_serves_the_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    namespace, _ = _run(_example("Embedding in Flask"), tmp_path, monkeypatch)
    portal = namespace["portal"]
    headers = {"Authorization": f"Bearer {portal.create_api_token('tenant-1').token}"}
    client = namespace["app"].test_client()

    assert namespace["app"].extensions["client_portal"] is namespace["extension"]
    assert client.get("/api/v1/client-portal/config", headers=headers).status_code == 200
    reply = client.post(
        "/api/v1/client-portal/token", headers=headers, json={"type": "contact", "id": "7"}
    )
    assert reply.status_code == 200
    assert (
        client.post("/api/v1/client-portal/contacts/8/invite", headers=headers).status_code == 404
    )
    portal.engine.dispose()


def test_the_fastapi_host_side_example_knows_the_signed_in_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    fastapi_code, _flask_code = _section_examples("Pages of your own behind the portal")
    namespace, _ = _run(fastapi_code, tmp_path, monkeypatch)
    portal = namespace["portal"]
    # The cookie is Secure only on an https public_url; the example's is http.
    client = TestClient(namespace["app"], base_url="http://127.0.0.1:8000", follow_redirects=False)

    assert client.get("/client-portal/invoices/2030-001").status_code == 401
    _sign_in(portal, client)
    assert client.get("/client-portal/invoices/2030-001").json() == {
        "invoice": "2030-001",
        "for": "Grace Host",
        "tenant": "tenant-1",
    }
    page = client.get("/client-portal/invoices").text
    assert "Invoice 2030-001" in page
    assert "1,200.50 EUR" in page
    assert 'href="/client-portal/invoices/2030-001"' in page
    portal.engine.dispose()


def test_the_flask_host_side_example_knows_the_signed_in_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fastapi_code, flask_code = _section_examples("Pages of your own behind the portal")
    namespace, _ = _run(flask_code, tmp_path, monkeypatch)
    portal = namespace["portal"]
    client = namespace["app"].test_client()

    assert client.get("/client-portal/invoices/2030-001").status_code == 401
    token = portal.get_or_create_token("tenant-1", "contact", 7).token
    assert client.get(f"/client-portal/{token}").status_code == 303
    assert client.get("/client-portal/invoices/2030-001").json == {
        "invoice": "2030-001",
        "for": "Grace Host",
    }
    portal.engine.dispose()


def test_the_portal_items_hook_example_feeds_the_invoices_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    (hook_code,) = _section_examples("client_portal_portal_items")
    setup, _ = _run(_example("Embedding in FastAPI"), tmp_path, monkeypatch)
    namespace, _ = _run(hook_code, tmp_path, monkeypatch)
    portal = setup["portal"]
    portal.plugin_manager.register(namespace["Invoices"]())
    client = TestClient(setup["app"], base_url="https://app.example.com", follow_redirects=False)
    _sign_in(portal, client)

    page = client.get("/client-portal/invoices").text

    assert "Invoice 2030-002" in page
    assert "80.00 EUR" in page
    portal.engine.dispose()
