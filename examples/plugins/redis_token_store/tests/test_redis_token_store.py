"""The Redis token store passes the conformance kit against the Redis on 127.0.0.1:6379."""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    import cp_redis_token_store
except ImportError:  # run from the checkout, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import cp_redis_token_store

import redis

from client_portal_core.testing import TokenStoreContract, make_test_portal, outbox_events
from client_portal_core.token_store import DomainEvent

REDIS_URL = "redis://127.0.0.1:6379/0"


def _require_redis() -> None:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable on 127.0.0.1:6379 (CI is set)")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")


@pytest.fixture
def key_prefix() -> Iterator[str]:
    """A prefix of this test's own, every key of it deleted afterwards."""
    _require_redis()
    prefix = f"cp-test-{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
    finally:
        client.close()


class TestRedisTokenStore(TokenStoreContract):
    @pytest.fixture
    def token_store_plugin(self) -> object:
        return cp_redis_token_store.plugin

    @pytest.fixture
    def token_store_plugin_settings(self, key_prefix: str) -> dict[str, Any]:
        return {"redis_token_store": {"url": REDIS_URL, "key_prefix": key_prefix}}


def test_events_left_by_a_crash_are_published_when_the_store_starts(key_prefix: str) -> None:
    settings = {"redis_token_store": {"url": REDIS_URL, "key_prefix": key_prefix}}
    first = make_test_portal(plugins=[cp_redis_token_store.plugin], plugin_settings=settings)
    first.add_webhook_endpoint("tenant-a", "http://127.0.0.1:9/hooks")
    store = first.token_store
    assert isinstance(store, cp_redis_token_store.RedisTokenStore)
    # A change committed in Redis whose process died before publishing its event:
    lost = DomainEvent("client_portal.token_accessed", "tenant-a", first.clock(), {"n": 1})
    with store.redis.pipeline() as pipe:
        store._stage(pipe, [lost])
        pipe.execute()

    restarted = make_test_portal(
        first.settings.database_url, plugins=[cp_redis_token_store.plugin], plugin_settings=settings
    )

    assert outbox_events(restarted, "tenant-a") == [("client_portal.token_accessed", {"n": 1})]
    assert restarted.token_store.publish_unpublished() == 0
    first.engine.dispose()
    restarted.engine.dispose()
