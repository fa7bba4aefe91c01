"""The FastAPI and Flask adapters answer the same requests identically.

One portal is mounted on both frameworks. The same sequence of requests goes
to FastAPI, then (rate-limit counters reset) to Flask; since a valid portal
token is handed out again unchanged, even the tokens in the bodies must match
byte for byte.
"""

from __future__ import annotations

from typing import Any

import pytest

from client_portal_core import ClientPortal
from conftest import API, PORTAL, TENANT_A, PortalClient, Reply, mount

#: Headers whose values must be identical on both adapters.
COMPARED_HEADERS = (
    "Content-Type",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "Allow",
    "WWW-Authenticate",
    "Cache-Control",
    "Location",
    "Content-Security-Policy",
)

RATE_LIMIT = 40
#: Stands for a read-only API token in :data:`SEQUENCE` (made per test).
READ_ONLY = "Bearer <read-only>"

#: (method, path, request options): every contract row and error path.
SEQUENCE: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", f"{API}/config", {}),
    ("GET", f"{API}/config", {"auth": None}),
    ("GET", f"{API}/config", {"auth": "Basic dXNlcjpwYXNz"}),
    ("GET", f"{API}/config", {"auth": "Bearer cpk_unknown"}),
    ("POST", f"{API}/token", {"json": {"type": "contact", "id": 1}}),
    ("POST", f"{API}/token", {"json": {"type": "contact", "id": "1"}}),
    ("POST", f"{API}/token", {"json": {"type": "company", "id": "co-acme-2"}}),
    ("POST", f"{API}/token", {"json": {"type": "contact", "id": 999}}),
    ("POST", f"{API}/token", {"json": {"type": "contact", "id": 3}}),
    ("POST", f"{API}/token", {"json": {"type": "person", "id": True}}),
    ("POST", f"{API}/token", {"json": {"type": "contact", "id": 1.5}}),
    ("POST", f"{API}/token", {"json": [1, 2]}),
    ("POST", f"{API}/token", {"body": b"", "content_type": "application/json"}),
    ("POST", f"{API}/token", {}),
    ("POST", f"{API}/token", {"body": b'{"type":', "content_type": "application/json"}),
    ("POST", f"{API}/token", {"body": b"type=contact", "content_type": "text/plain"}),
    ("POST", f"{API}/token", {"json": {"type": "contact", "id": "x" * 70_000}}),
    ("POST", f"{API}/contacts/1/invite", {"json": {"custom_message": "<b>Hi</b>"}}),
    ("POST", f"{API}/contacts/1/invite", {}),
    ("POST", f"{API}/contacts/2/invite", {}),
    ("POST", f"{API}/contacts/999/invite", {}),
    ("POST", f"{API}/companies/10/invite", {}),
    ("POST", f"{API}/companies/11/invite", {}),
    ("POST", f"{API}/companies/20/invite", {}),
    ("POST", f"{API}/contacts/1/invite", {"json": {"custom_message": 5}}),
    ("POST", f"{API}/contacts/1/invite", {"body": b"{x", "content_type": "application/json"}),
    ("GET", f"{API}/token", {}),
    ("HEAD", f"{API}/config", {}),
    ("OPTIONS", f"{API}/config", {}),
    ("OPTIONS", f"{API}/token", {}),
    ("PUT", f"{API}/config", {}),
    ("DELETE", f"{API}/contacts/1/invite", {}),
    ("GET", f"{API}/openapi.json", {}),
    ("GET", f"{PORTAL}/not-a-token", {}),
    ("POST", f"{PORTAL}/not-a-token", {}),
    ("GET", PORTAL, {}),
    ("GET", f"{PORTAL}/", {}),
    ("GET", f"{PORTAL}/invoices", {}),
    ("GET", f"{PORTAL}/signed-out", {}),
    ("GET", f"{PORTAL}/logout", {}),
    ("POST", f"{PORTAL}/logout", {"body": b"csrf_token=x"}),
    ("POST", f"{PORTAL}/abc.def/renew", {}),
    ("GET", f"{PORTAL}/", {"headers": {"Cookie": "client_portal_session=forged.value"}}),
    ("GET", f"{API}/nope", {}),
    ("GET", f"{API}/nope", {"auth": None}),
    ("GET", f"{API}/config/", {}),
    ("POST", f"{API}/token/", {"json": {"type": "contact", "id": 1}}),
    ("HEAD", f"{API}/token", {}),
    ("GET", API, {}),
    # The management API; rows leave the state as they found it, so both runs see the same.
    ("PATCH", f"{API}/config", {"json": {"portal_name": "Client Portal"}}),
    ("PATCH", f"{API}/config", {"json": {"primary_color": "red", "colour": 1}}),
    ("PATCH", f"{API}/config", {"body": b"{", "content_type": "application/json"}),
    ("PATCH", f"{API}/config", {"json": {"portal_name": "X"}, "auth": READ_ONLY}),
    ("GET", f"{API}/config", {"auth": READ_ONLY}),
    ("POST", f"{API}/token", {"json": {"type": "contact", "id": 1}, "auth": READ_ONLY}),
    ("POST", f"{API}/token", {"json": {"type": "contact", "id": 999, "regenerate": True}}),
    ("POST", f"{API}/token", {"json": {"type": "contact", "id": 1, "regenerate": "yes"}}),
    ("POST", f"{API}/token/revoke", {"json": {"type": "company", "id": 11}}),
    ("POST", f"{API}/token/revoke", {"json": {"type": "contact", "id": 999}}),
    ("POST", f"{API}/token/revoke", {"json": {"type": "contact", "id": 3}}),
    ("POST", f"{API}/token/revoke", {"json": {"type": "robot"}}),
    ("GET", f"{API}/tokens?type=contact&id=1", {}),
    ("GET", f"{API}/tokens?type=contact&id=1&limit=1", {"auth": READ_ONLY}),
    ("GET", f"{API}/tokens?status=lost&limit=0&cursor=forged&x=1", {}),
    ("POST", f"{API}/tokens/renew", {"json": {"expiring_within_days": 7}}),
    ("POST", f"{API}/tokens/renew", {"json": {}}),
    ("POST", f"{API}/tokens/renew", {"json": {"expiring_within_days": 7}, "auth": READ_ONLY}),
    ("POST", f"{API}/token/preview", {"json": {"type": "contact", "id": 999}}),
    ("POST", f"{API}/token/preview", {"json": {"type": "contact", "id": 3}}),
    ("POST", f"{API}/token/preview", {"json": {"type": "robot", "x": 1}}),
    ("POST", f"{API}/token/preview", {"body": b"{", "content_type": "application/json"}),
    ("POST", f"{API}/token/preview", {"json": {"type": "contact", "id": 1}, "auth": READ_ONLY}),
    ("GET", f"{API}/token/preview", {}),
    ("GET", f"{API}/accesses?type=company&id=11", {}),
    ("GET", f"{API}/accesses?type=company&limit=1", {"auth": READ_ONLY}),
    ("GET", f"{API}/accesses?type=robot&limit=0&cursor=forged&x=1", {}),
    ("POST", f"{API}/accesses", {}),
    ("GET", f"{API}/invitations?status=failed", {}),
    ("GET", f"{API}/invitations?status=bounced", {}),
    ("POST", f"{API}/invitations/999999/retry", {}),
    ("POST", f"{API}/invitations/abc/retry", {}),
    ("GET", f"{API}/webhooks", {}),
    ("POST", f"{API}/webhooks", {"json": {"url": "ftp://example.com/"}}),
    ("POST", f"{API}/webhooks", {"json": {"url": "https://example.com/", "events": ["x"]}}),
    ("POST", f"{API}/webhooks", {"json": {"url": "https://example.com/"}, "auth": READ_ONLY}),
    ("PATCH", f"{API}/webhooks/999", {"json": {"enabled": False}}),
    ("DELETE", f"{API}/webhooks/999", {}),
    ("GET", f"{API}/webhooks/999/deliveries", {}),
    ("POST", f"{API}/webhooks/999/deliveries/1/redeliver", {}),
    ("POST", f"{API}/webhooks/999/rotate-secret", {}),
    ("PUT", f"{API}/webhooks/999", {}),
    ("DELETE", f"{API}/tokens", {}),
    ("TRACE", f"{API}/config", {}),
    ("PROPFIND", f"{API}/token", {}),
    ("FROBNICATE", f"{API}/nope", {}),
    ("QUERY", f"{PORTAL}/not-a-token", {}),
    ("TRACE", PORTAL, {}),
    ("GET", f"{API}//config", {}),
    ("POST", f"{API}//token", {"json": {"type": "contact", "id": 1}}),
]


def _observe(reply: Reply) -> dict[str, Any]:
    headers = {name: reply.headers.get(name) for name in COMPARED_HEADERS}
    retry_after = reply.headers.get("Retry-After")
    # Retry-After counts down with the wall clock; both must send a whole
    # number of seconds within the window, which is all a client relies on.
    headers["Retry-After"] = None if retry_after is None else 0 < int(retry_after) <= 24 * 3600
    is_json = (headers["Content-Type"] or "").startswith("application/json")
    return {
        "status": reply.status,
        "headers": headers,
        "body": reply.json() if is_json and reply.body else reply.body,
    }


def _run(client: PortalClient, portal_token: str, read_only: str) -> list[dict[str, Any]]:
    def send(method: str, path: str, options: dict[str, Any]) -> Reply:
        if options.get("auth") == READ_ONLY:
            options = {**options, "auth": f"Bearer {read_only}"}
        return client.request(method, path, **options)

    observed = [_observe(send(m, p, options)) for m, p, options in SEQUENCE]
    observed.append(_observe(client.get(f"{PORTAL}/{portal_token}")))
    # Use up the budget: the next request is the 429.
    for _ in range(RATE_LIMIT):
        reply = client.get(f"{API}/config")
        observed.append(_observe(reply))
        if reply.status == 429:
            break
    return observed


@pytest.fixture
def parity_portal(make_portal: Any) -> ClientPortal:
    return make_portal(rate_limit=f"{RATE_LIMIT}/day")  # type: ignore[no-any-return]


def test_fastapi_and_flask_answer_identically(parity_portal: ClientPortal) -> None:
    api_token = parity_portal.create_api_token(TENANT_A).token
    read_only = parity_portal.create_api_token(TENANT_A, "reader", ["read"]).token
    portal_token = parity_portal.get_or_create_token(TENANT_A, "contact", "c-7f3e").token

    fastapi = _run(mount("fastapi", parity_portal, api_token), portal_token, read_only)
    parity_portal.rate_limiter.reset()
    flask = _run(mount("flask", parity_portal, api_token), portal_token, read_only)

    assert [step["status"] for step in fastapi][-1] == 429
    assert len(fastapi) == len(flask)
    for index, (left, right) in enumerate(zip(fastapi, flask, strict=True)):
        assert left == right, f"step {index}: {SEQUENCE[index] if index < len(SEQUENCE) else ''}"


def test_sequence_covers_every_status_of_the_contract(parity_portal: ClientPortal) -> None:
    api_token = parity_portal.create_api_token(TENANT_A).token
    read_only = parity_portal.create_api_token(TENANT_A, "reader", ["read"]).token
    portal_token = parity_portal.get_or_create_token(TENANT_A, "contact", 1).token

    client = mount("flask", parity_portal, api_token)
    statuses = {step["status"] for step in _run(client, portal_token, read_only)}

    assert statuses >= {200, 400, 401, 403, 404, 405, 413, 415, 422, 429}


def test_429_is_identical_on_both_adapters(make_portal: Any) -> None:
    portal = make_portal(rate_limit="1/day")
    token = portal.create_api_token(TENANT_A).token
    replies = {}
    for adapter in ("fastapi", "flask"):
        portal.rate_limiter.reset()
        client = mount(adapter, portal, token)
        client.get(f"{API}/config")
        replies[adapter] = client.get(f"{API}/config")

    fastapi, flask = replies["fastapi"], replies["flask"]
    assert fastapi.status == flask.status == 429
    assert fastapi.json() == flask.json() == {"message": "Too Many Requests"}
    assert fastapi.headers["X-RateLimit-Remaining"] == flask.headers["X-RateLimit-Remaining"] == "0"
    assert int(fastapi.headers["Retry-After"]) > 0
    assert int(flask.headers["Retry-After"]) > 0


def test_a_staff_preview_answers_alike_on_both_adapters(parity_portal: ClientPortal) -> None:
    # Each preview link is new (random), so its answer is compared but for the link.
    api_token = parity_portal.create_api_token(TENANT_A).token
    observed = []
    for adapter in ("fastapi", "flask"):
        parity_portal.rate_limiter.reset()
        client = mount(adapter, parity_portal, api_token)
        reply = client.post(f"{API}/token/preview", json={"type": "contact", "id": 1})
        answer = _observe(reply)
        url = answer["body"].pop("url")
        landed = _observe(client.browser().get(url.removeprefix("https://portal.example.test")))
        observed.append((answer, landed))

    assert observed[0] == observed[1]
    assert observed[0][0]["status"] == 200
    assert observed[0][1]["status"] == 303
