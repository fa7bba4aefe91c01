"""Webhook endpoints over HTTP (``/webhooks``), deliveries, redelivery and secret rotation,
on both adapters and databases, with a real receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from client_portal_core import ALL_EVENT_TYPES, TOKEN_CREATED, TOKEN_REVOKED, ClientPortal, verify
from client_portal_core.webhooks import WebhookVerificationError, WebhookWorker
from conftest import API, TENANT_A, FakeClock, PortalClient
from webhook_support import Receiver, expected_signature, receiver, wait_until

__all__ = ["receiver"]  # the fixture, imported for pytest

pytestmark = pytest.mark.portal(webhook_allow_private_urls=True)

NO_ADMIN = {"message": "This API token does not have the 'admin' scope"}
ENDPOINT_FIELDS = ["id", "url", "events", "enabled", "disabled_reason", "created_at"]


def add(client: PortalClient, url: str, **body: Any) -> Any:
    reply = client.post(f"{API}/webhooks", json={"url": url, **body})
    assert reply.status == 201, reply.body
    return reply.json()


def scoped(client: PortalClient, *scopes: str) -> PortalClient:
    return client.as_token(client.portal.create_api_token(TENANT_A, "scoped", scopes).token)


@pytest.fixture
def worker(portal: ClientPortal, clock: FakeClock) -> Iterator[WebhookWorker]:
    """A worker on the test portal's database and clock, run by hand with :func:`deliver`."""
    worker = WebhookWorker(portal.db, portal.settings, clock=clock, poll_interval=0.02)
    yield worker
    worker.close()


def deliver(worker: WebhookWorker, receiver: Receiver, count: int) -> list[Any]:
    """Run the worker until the receiver has ``count`` requests (bounded)."""

    def step() -> bool:
        worker.run_once()
        return len(receiver.snapshot()) >= count

    wait_until(step)
    return receiver.snapshot()


# -- endpoints ------------------------------------------------------------------------


def test_adding_an_endpoint_answers_201_with_its_secret_once(
    client: PortalClient, clock: FakeClock
) -> None:
    reply = client.post(f"{API}/webhooks", json={"url": "http://127.0.0.1:9/hook"})

    assert reply.status == 201
    created = reply.json()
    assert list(created) == [*ENDPOINT_FIELDS, "secret"]
    assert created["secret"].startswith("whsec_")
    assert created["events"] == list(ALL_EVENT_TYPES)
    assert created["enabled"] is True
    assert created["created_at"] == clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    listed = client.get(f"{API}/webhooks")
    assert listed.json() == {
        "data": [{k: v for k, v in created.items() if k != "secret"}],
        "next_cursor": None,
    }
    assert created["secret"] not in listed.text


def test_an_endpoint_can_subscribe_to_some_events(client: PortalClient) -> None:
    created = add(client, "http://127.0.0.1:9/hook", events=[TOKEN_CREATED])

    assert created["events"] == [TOKEN_CREATED]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": "http://127.0.0.1:9/hook", "events": ["client_portal.lunch"]}, "events"),
        ({"url": "http://127.0.0.1:9/hook", "events": []}, "events"),
        ({}, "url"),
        ({"url": "http://127.0.0.1:9/hook", "secret": "mine"}, "secret"),
    ],
)
def test_a_bad_endpoint_is_422_on_its_field(client: PortalClient, body: Any, field: str) -> None:
    reply = client.post(f"{API}/webhooks", json=body)

    assert reply.status == 422
    assert list(reply.json()["errors"]) == [field]
    assert client.get(f"{API}/webhooks").json()["data"] == []


@pytest.mark.portal(webhook_allow_private_urls=False)
def test_the_ssrf_guard_refuses_private_addresses(client: PortalClient) -> None:
    for url in ("http://127.0.0.1/hook", "http://169.254.169.254/latest", "http://10.0.0.7/"):
        reply = client.post(f"{API}/webhooks", json={"url": url})
        assert reply.status == 422, url
        assert list(reply.json()["errors"]) == ["url"]


@pytest.mark.portal(webhook_allow_private_urls=False)
def test_the_ssrf_guard_checks_a_changed_url_too(client: PortalClient, make_portal: Any) -> None:
    # Added by a process with the guard lifted (a local demo) on the same database.
    demo = make_portal(webhook_allow_private_urls=True)
    added = demo.add_webhook_endpoint(TENANT_A, "http://127.0.0.1:9/hook")

    reply = client.request("PATCH", f"{API}/webhooks/{added.id}", json={"url": "http://10.1.2.3/"})

    assert reply.status == 422
    assert list(reply.json()["errors"]) == ["url"]


def test_patch_changes_url_events_and_state(client: PortalClient) -> None:
    created = add(client, "http://127.0.0.1:9/hook")

    reply = client.request(
        "PATCH",
        f"{API}/webhooks/{created['id']}",
        json={"url": "http://127.0.0.1:10/other", "events": [TOKEN_CREATED], "enabled": False},
    )

    assert reply.status == 200
    assert reply.json() == {
        **{k: v for k, v in created.items() if k != "secret"},
        "url": "http://127.0.0.1:10/other",
        "events": [TOKEN_CREATED],
        "enabled": False,
        "disabled_reason": "disabled",
    }
    again = client.request("PATCH", f"{API}/webhooks/{created['id']}", json={"enabled": True})
    assert (again.json()["enabled"], again.json()["disabled_reason"]) == (True, None)


def test_patch_refuses_unknown_events(client: PortalClient) -> None:
    created = add(client, "http://127.0.0.1:9/hook")

    reply = client.request("PATCH", f"{API}/webhooks/{created['id']}", json={"events": ["nope"]})

    assert reply.status == 422
    assert list(reply.json()["errors"]) == ["events"]


def test_delete_answers_204_without_a_body(client: PortalClient) -> None:
    created = add(client, "http://127.0.0.1:9/hook")

    reply = client.request("DELETE", f"{API}/webhooks/{created['id']}")

    assert reply.status == 204
    assert reply.body == b""
    assert "Content-Type" not in reply.headers
    assert reply.headers["X-RateLimit-Remaining"]
    assert client.get(f"{API}/webhooks").json()["data"] == []
    assert client.request("DELETE", f"{API}/webhooks/{created['id']}").status == 404


@pytest.mark.parametrize("path", ["999", "abc", "0"])
def test_an_unknown_endpoint_is_404(client: PortalClient, path: str) -> None:
    for method, suffix in (
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/deliveries"),
        ("POST", "/rotate-secret"),
        ("POST", "/deliveries/1/redeliver"),
    ):
        reply = client.request(method, f"{API}/webhooks/{path}{suffix}", json={})
        assert reply.status == 404, (method, suffix)


def test_endpoints_are_paginated_newest_first(client: PortalClient) -> None:
    ids = [add(client, f"http://127.0.0.1:9/hook{n}")["id"] for n in range(5)]

    first = client.get(f"{API}/webhooks?limit=2").json()
    second = client.get(f"{API}/webhooks?limit=2&cursor={first['next_cursor']}").json()
    third = client.get(f"{API}/webhooks?limit=2&cursor={second['next_cursor']}").json()

    listed = [e["id"] for page in (first, second, third) for e in page["data"]]
    assert listed == ids[::-1]
    assert third["next_cursor"] is None


# -- scopes and tenants ---------------------------------------------------------------


def test_a_read_token_lists_but_cannot_manage_webhooks(client: PortalClient) -> None:
    created = add(client, "http://127.0.0.1:9/hook")
    reader = scoped(client, "read", "invite")
    base = f"{API}/webhooks/{created['id']}"

    assert reader.get(f"{API}/webhooks").status == 200
    assert reader.get(f"{base}/deliveries").status == 200
    for method, path, body in (
        ("POST", f"{API}/webhooks", {"url": "http://127.0.0.1:9/x"}),
        ("PATCH", base, {"enabled": False}),
        ("DELETE", base, None),
        ("POST", f"{base}/rotate-secret", None),
        ("POST", f"{base}/deliveries/1/redeliver", None),
    ):
        reply = reader.request(method, path, json=body)
        assert reply.status == 403, (method, path)
        assert reply.json() == NO_ADMIN
    assert client.get(f"{API}/webhooks").json()["data"][0]["enabled"] is True


def test_another_tenants_endpoint_is_404_not_403(
    client: PortalClient, api_token_b: str, portal: ClientPortal
) -> None:
    created = add(client, "http://127.0.0.1:9/hook")
    portal.get_or_create_token(TENANT_A, "contact", 1)
    (delivery,) = portal.list_webhook_deliveries(TENANT_A)
    other = client.as_token(api_token_b)
    base = f"{API}/webhooks/{created['id']}"

    assert other.get(f"{API}/webhooks").json()["data"] == []
    for method, path, body in (
        ("PATCH", base, {"enabled": False}),
        ("DELETE", base, None),
        ("GET", f"{base}/deliveries", None),
        ("POST", f"{base}/rotate-secret", None),
        ("POST", f"{base}/deliveries/{delivery.id}/redeliver", None),
    ):
        reply = other.request(method, path, json=body)
        assert reply.status == 404, (method, path)
    assert client.get(f"{API}/webhooks").json()["data"][0]["enabled"] is True


# -- deliveries -----------------------------------------------------------------------


def test_deliveries_list_an_endpoints_messages(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    created = add(client, "http://127.0.0.1:9/hook")
    add(client, "http://127.0.0.1:9/other")
    portal.get_or_create_token(TENANT_A, "contact", 1)

    reply = client.get(f"{API}/webhooks/{created['id']}/deliveries")

    assert reply.status == 200
    (item,) = reply.json()["data"]
    assert item["event_type"] == TOKEN_CREATED
    assert item["status"] == "pending"
    assert item["attempts"] == 0
    assert item["webhook_id"].startswith("msg_")
    assert item["created_at"] == clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert client.get(f"{API}/webhooks/{created['id']}/deliveries?status=failed").json() == {
        "data": [],
        "next_cursor": None,
    }


def test_deliveries_refuse_an_unknown_status(client: PortalClient) -> None:
    created = add(client, "http://127.0.0.1:9/hook")

    reply = client.get(f"{API}/webhooks/{created['id']}/deliveries?status=lost")

    assert reply.status == 422
    assert list(reply.json()["errors"]) == ["status"]


def test_redeliver_sends_a_finished_delivery_again_with_the_same_id(
    client: PortalClient, portal: ClientPortal, worker: WebhookWorker, receiver: Receiver
) -> None:
    created = add(client, receiver.url)
    portal.get_or_create_token(TENANT_A, "contact", 1)
    (first,) = deliver(worker, receiver, 1)
    (delivery,) = client.get(f"{API}/webhooks/{created['id']}/deliveries").json()["data"]
    assert delivery["status"] == "delivered"

    reply = client.post(f"{API}/webhooks/{created['id']}/deliveries/{delivery['id']}/redeliver")

    assert reply.status == 200
    assert reply.json()["status"] == "pending"
    _first, again = deliver(worker, receiver, 2)
    assert again.msg_id == first.msg_id
    assert again.body == first.body


def test_redelivering_a_pending_delivery_is_409(client: PortalClient, portal: ClientPortal) -> None:
    created = add(client, "http://127.0.0.1:9/hook")
    portal.get_or_create_token(TENANT_A, "contact", 1)
    (delivery,) = portal.list_webhook_deliveries(TENANT_A)

    reply = client.post(f"{API}/webhooks/{created['id']}/deliveries/{delivery.id}/redeliver")

    assert reply.status == 409
    assert reply.json() == {"message": "The delivery is still pending; it cannot be sent again yet"}


def test_a_delivery_of_another_endpoint_is_404(client: PortalClient, portal: ClientPortal) -> None:
    add(client, "http://127.0.0.1:9/hook")
    other = add(client, "http://127.0.0.1:9/other", events=[TOKEN_REVOKED])
    portal.get_or_create_token(TENANT_A, "contact", 1)
    (delivery,) = portal.list_webhook_deliveries(TENANT_A)

    reply = client.post(f"{API}/webhooks/{other['id']}/deliveries/{delivery.id}/redeliver")

    assert reply.status == 404
    assert reply.json() == {"message": "Webhook delivery not found"}


# -- secret rotation --------------------------------------------------------------------


def signatures(received: Any) -> list[str]:
    return str(received.headers["webhook-signature"]).split()


def test_rotation_answers_the_new_secret_and_the_end_of_the_grace_period(
    client: PortalClient, clock: FakeClock
) -> None:
    created = add(client, "http://127.0.0.1:9/hook")

    reply = client.post(f"{API}/webhooks/{created['id']}/rotate-secret")

    assert reply.status == 200
    rotated = reply.json()
    assert rotated["id"] == created["id"]
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    end = clock.now + timedelta(hours=24)
    assert rotated["previous_secret_expires_at"] == end.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert rotated["secret"] not in client.get(f"{API}/webhooks").text


def test_during_the_grace_period_a_delivery_verifies_with_either_secret(
    client: PortalClient,
    portal: ClientPortal,
    worker: WebhookWorker,
    receiver: Receiver,
    clock: FakeClock,
) -> None:
    created = add(client, receiver.url)
    old = created["secret"]
    new_secret = client.post(f"{API}/webhooks/{created['id']}/rotate-secret").json()["secret"]
    portal.get_or_create_token(TENANT_A, "contact", 1)

    (got,) = deliver(worker, receiver, 1)

    now = clock.now.timestamp()
    timestamp = got.headers["webhook-timestamp"]
    assert signatures(got) == [
        expected_signature(new_secret, got.msg_id, timestamp, got.body),
        expected_signature(old, got.msg_id, timestamp, got.body),
    ]
    assert verify(got.body, got.headers, new_secret, now=now)["type"] == TOKEN_CREATED
    assert verify(got.body, got.headers, old, now=now)["type"] == TOKEN_CREATED


def test_after_the_grace_period_only_the_new_secret_signs(
    client: PortalClient,
    portal: ClientPortal,
    worker: WebhookWorker,
    receiver: Receiver,
    clock: FakeClock,
) -> None:
    created = add(client, receiver.url)
    new_secret = client.post(f"{API}/webhooks/{created['id']}/rotate-secret").json()["secret"]
    clock.advance(hours=24, seconds=1)
    portal.get_or_create_token(TENANT_A, "contact", 1)

    (got,) = deliver(worker, receiver, 1)

    now = clock.now.timestamp()
    timestamp = got.headers["webhook-timestamp"]
    assert signatures(got) == [expected_signature(new_secret, got.msg_id, timestamp, got.body)]
    assert verify(got.body, got.headers, new_secret, now=now)["type"] == TOKEN_CREATED
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify(got.body, got.headers, created["secret"], now=now)


@pytest.mark.portal(webhook_allow_private_urls=True, webhook_secret_grace_seconds=0)
def test_a_zero_grace_period_switches_at_once(
    client: PortalClient,
    portal: ClientPortal,
    worker: WebhookWorker,
    receiver: Receiver,
) -> None:
    created = add(client, receiver.url)
    client.post(f"{API}/webhooks/{created['id']}/rotate-secret")
    portal.get_or_create_token(TENANT_A, "contact", 1)

    (got,) = deliver(worker, receiver, 1)

    assert len(signatures(got)) == 1
