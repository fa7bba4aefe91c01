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
    """Stands for the host's own contacts: tenant-1 has contact 7 with an email."""

    def find(self, tenant_id: str, kind: str, subject_id: str) -> Any:
        if (tenant_id, kind, subject_id) == ("tenant-1", "contact", "7"):
            return SimpleNamespace(id=7, name="Grace Host", email="grace@example.com")
        return None


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
