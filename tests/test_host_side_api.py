"""The host's own routes know the signed-in portal client, on FastAPI and on Flask."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

import conftest
from client_portal_core import ClientPortal, PortalClient
from conftest import PORTAL, TENANT_A, Headers, Reply

HOST_PAGE = f"{PORTAL}/me/profile"


def describe(client: PortalClient) -> dict[str, Any]:
    return {
        "tenant_id": client.tenant_id,
        "subject_type": client.subject_type.value,
        "subject_id": client.subject_id,
        "email": client.recipient.email,
        "expires_at": client.expires_at.isoformat(),
        "preview": client.preview,
    }


def fastapi_host(portal: ClientPortal) -> Callable[..., Reply]:
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    from client_portal_fastapi import create_router, portal_client_dependency

    app = FastAPI()
    app.include_router(create_router(portal))
    signed_in = portal_client_dependency(app, portal)

    @app.get(HOST_PAGE)
    def profile(client: PortalClient = Depends(signed_in)) -> dict[str, Any]:  # noqa: B008
        return describe(client)

    test_client = TestClient(app, follow_redirects=False)

    def send(method: str, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        response = test_client.request(method, path, content=body, headers=headers)
        test_client.cookies.clear()
        return Reply(response.status_code, Headers(response.headers.items()), response.content)

    return send


def flask_host(portal: ClientPortal) -> Callable[..., Reply]:
    from flask import Flask, g, jsonify

    from client_portal_flask import ClientPortalFlask, current_portal_client, portal_client_required

    app = Flask("host_side_api")
    ClientPortalFlask(portal, app)

    @app.get(HOST_PAGE)
    @portal_client_required
    def profile() -> Any:
        assert g.portal_client == current_portal_client()
        return jsonify(describe(g.portal_client))

    test_client = app.test_client(use_cookies=False)

    def send(method: str, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        response = test_client.open(path, method=method, data=body, headers=headers)
        return Reply(response.status_code, Headers(response.headers.items()), response.data)

    return send


@pytest.fixture(
    params=[pytest.param(fastapi_host, id="fastapi"), pytest.param(flask_host, id="flask")]
)
def host(request: pytest.FixtureRequest, portal: ClientPortal) -> conftest.PortalClient:
    return conftest.PortalClient("host", portal, request.param(portal))


def test_a_host_route_gets_the_signed_in_client(
    host: conftest.PortalClient, portal: ClientPortal
) -> None:
    issued = portal.get_or_create_token(TENANT_A, "company", "10")
    browser = host.browser()
    browser.visit(f"{PORTAL}/{issued.token}")

    reply = browser.get(HOST_PAGE)

    assert reply.status == 200
    assert json.loads(reply.body) == {
        "tenant_id": TENANT_A,
        "subject_type": "company",
        "subject_id": "10",
        "email": "billing@acme.example",
        "expires_at": issued.expires_at.isoformat(),
        "preview": False,
    }


def test_a_host_route_learns_that_a_staff_preview_is_one(
    host: conftest.PortalClient, portal: ClientPortal
) -> None:
    preview = portal.create_preview(TENANT_A, "company", "10")
    browser = host.browser()
    browser.visit(preview.url.removeprefix(portal.settings.public_url))

    reply = browser.get(HOST_PAGE)

    assert reply.status == 200
    described = json.loads(reply.body)
    assert (described["subject_id"], described["preview"]) == ("10", True)
    assert described["expires_at"] == preview.expires_at.isoformat()


def test_a_host_route_without_a_session_answers_the_portals_401_page(
    host: conftest.PortalClient,
) -> None:
    reply = host.browser().get(HOST_PAGE)

    assert reply.status == 401
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "invitation email" in reply.text


def test_a_host_route_after_revocation_answers_the_branded_401_page(
    host: conftest.PortalClient, portal: ClientPortal
) -> None:
    portal.update_config(TENANT_A, portal_name="Acme Hub")
    issued = portal.get_or_create_token(TENANT_A, "contact", "1")
    browser = host.browser()
    browser.visit(f"{PORTAL}/{issued.token}")
    portal.revoke_token(TENANT_A, issued.token_id)

    reply = browser.get(HOST_PAGE)

    assert reply.status == 401
    assert "Acme Hub" in reply.text
