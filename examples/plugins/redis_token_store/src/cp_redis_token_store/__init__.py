"""A client-portal-core token store plugin: portal tokens live in Redis.

Installed, it is found through its ``client_portal`` entry point
(``redis_token_store``) and configured by the portal's settings::

    CLIENT_PORTAL_PLUGIN_REDIS_TOKEN_STORE_URL=redis://127.0.0.1:6379/0
    CLIENT_PORTAL_PLUGIN_REDIS_TOKEN_STORE_KEY_PREFIX=client_portal   # optional

Keys (``P`` is the prefix): ``P:next_id`` (ids, ``INCR``), ``P:token:<id>``
(a hash per token), ``P:lookup:<hash>`` (lookup hash to id),
``P:current:<subject>`` (the subject's current token id) and
``P:unpublished`` (events written with their change, not yet in the outbox).

How it keeps the :class:`~client_portal_core.token_store.TokenStore` rules:

* **one current token per subject**: a new token is stored in a
  ``WATCH``/``MULTI`` transaction on the subject's ``current`` key; of racing
  callers one commits, the others retry and find its token.
* **no lost access counts**: the token's hash is ``WATCH``-ed, so concurrent
  accesses retry instead of overwriting each other.
* **events exactly once, atomically with the change**: each change's events
  are written into ``P:unpublished`` in the change's own transaction, then
  published to the portal's outbox (``event_sink``, idempotent per event
  id) and removed. Events left by a crash in between are published when the
  store starts again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import redis
from pydantic import Field

from client_portal_core import Settings, hookimpl
from client_portal_core.plugins import PluginSettings
from client_portal_core.token_store import (
    DomainEvent,
    EventsFor,
    EventSink,
    IsUsable,
    Mint,
    StoredPortalToken,
    no_events,
)

__all__ = ["RedisTokenStore", "RedisTokenStorePlugin", "RedisTokenStoreSettings", "plugin"]

__version__ = "0.1.0"

_RETRIES = 200  # optimistic transactions under heavy contention


class RedisTokenStoreSettings(PluginSettings):
    """The plugin's settings (``CLIENT_PORTAL_PLUGIN_REDIS_TOKEN_STORE_<FIELD>``)."""

    plugin_name: ClassVar[str] = "redis_token_store"

    url: str = Field("redis://127.0.0.1:6379/0", pattern=r"^rediss?://")
    key_prefix: str = Field("client_portal", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")


def _time(value: str) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _row(token_id: int, fields: dict[str, str]) -> StoredPortalToken:
    return StoredPortalToken(
        id=token_id,
        tenant_id=fields["tenant_id"],
        subject_type=fields["subject_type"],
        subject_id=fields["subject_id"],
        sealed=fields["sealed"],
        created_at=datetime.fromisoformat(fields["created_at"]),
        expires_at=datetime.fromisoformat(fields["expires_at"]),
        revoked_at=_time(fields["revoked_at"]),
        current=fields["current"] == "1",
        last_accessed_at=_time(fields["last_accessed_at"]),
        access_count=int(fields["access_count"]),
    )


def _fields(row: StoredPortalToken, lookup_hash: str) -> dict[str, str]:
    return {
        "tenant_id": row.tenant_id,
        "subject_type": row.subject_type,
        "subject_id": row.subject_id,
        "lookup_hash": lookup_hash,
        "sealed": row.sealed,
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else "",
        "current": "1" if row.current else "",
        "last_accessed_at": row.last_accessed_at.isoformat() if row.last_accessed_at else "",
        "access_count": str(row.access_count),
    }


def _event_json(event: DomainEvent) -> str:
    return json.dumps(
        {
            "id": event.id,
            "type": event.type,
            "tenant_id": event.tenant_id,
            "occurred_at": event.occurred_at.isoformat(),
            "data": event.data,
        }
    )


def _event(text: str) -> DomainEvent:
    raw = json.loads(text)
    return DomainEvent(
        raw["type"],
        raw["tenant_id"],
        datetime.fromisoformat(raw["occurred_at"]),
        raw["data"],
        raw["id"],
    )


class RedisTokenStore:
    """Portal tokens in Redis (see the module's documentation for the rules kept).

    :param client: a Redis client with ``decode_responses=True``.
    :param event_sink: the portal's outbox (the hook's ``event_sink``).
    :param key_prefix: the prefix of every key.
    """

    def __init__(self, client: redis.Redis, event_sink: EventSink, *, key_prefix: str) -> None:
        self.redis = client
        self.event_sink = event_sink
        self.prefix = key_prefix
        self.publish_unpublished()

    # -- keys -------------------------------------------------------------------

    def _token_key(self, token_id: int) -> str:
        return f"{self.prefix}:token:{token_id}"

    def _current_key(self, tenant_id: str, subject_type: str, subject_id: str) -> str:
        subject = json.dumps([tenant_id, subject_type, subject_id])
        return f"{self.prefix}:current:{hashlib.sha256(subject.encode()).hexdigest()}"

    @property
    def _unpublished(self) -> str:
        return f"{self.prefix}:unpublished"

    # -- events -------------------------------------------------------------------

    def _stage(self, pipe: Any, events: Sequence[DomainEvent]) -> None:
        if events:
            pipe.hset(self._unpublished, mapping={e.id: _event_json(e) for e in events})

    def _publish(self, events: Sequence[DomainEvent]) -> None:
        if events:
            self.event_sink.publish(events)
            self.redis.hdel(self._unpublished, *(e.id for e in events))

    def publish_unpublished(self) -> int:
        """Publish events a crash left between their change and the outbox; how many."""
        left = [_event(text) for text in self.redis.hvals(self._unpublished)]
        self._publish(left)
        return len(left)

    # -- reads --------------------------------------------------------------------

    def _load(self, client: Any, token_id: int) -> StoredPortalToken | None:
        fields = client.hgetall(self._token_key(token_id))
        return _row(token_id, fields) if fields else None

    def get_token(self, tenant_id: str, token_id: int) -> StoredPortalToken | None:
        """See :meth:`TokenStore.get_token`."""
        row = self._load(self.redis, token_id)
        return row if row is not None and row.tenant_id == tenant_id else None

    def find_token_by_lookup_hash(self, lookup_hash: str) -> StoredPortalToken | None:
        """See :meth:`TokenStore.find_token_by_lookup_hash`."""
        token_id = self.redis.get(f"{self.prefix}:lookup:{lookup_hash}")
        return None if token_id is None else self._load(self.redis, int(token_id))

    # -- writes -------------------------------------------------------------------

    def get_or_create_token(
        self,
        tenant_id: str,
        subject_type: str,
        subject_id: str,
        *,
        is_usable: IsUsable,
        mint: Mint,
        events: EventsFor,
    ) -> tuple[StoredPortalToken, bool]:
        """See :meth:`TokenStore.get_or_create_token`."""
        current_key = self._current_key(tenant_id, subject_type, subject_id)
        with self.redis.pipeline() as pipe:
            for _attempt in range(_RETRIES):
                try:
                    pipe.watch(current_key)
                    current_id = pipe.get(current_key)
                    current = None if current_id is None else self._load(pipe, int(current_id))
                    if current is not None and is_usable(current):
                        pipe.unwatch()
                        return current, False
                    new, created_at, expires_at = mint()
                    row = StoredPortalToken(
                        id=int(self.redis.incr(f"{self.prefix}:next_id")),
                        tenant_id=tenant_id,
                        subject_type=subject_type,
                        subject_id=subject_id,
                        sealed=new.sealed,
                        created_at=created_at,
                        expires_at=expires_at,
                        revoked_at=None,
                        current=True,
                        last_accessed_at=None,
                        access_count=0,
                    )
                    created_events = list(events(row))
                    pipe.multi()
                    if current is not None:
                        pipe.hset(self._token_key(current.id), "current", "")
                    pipe.hset(self._token_key(row.id), mapping=_fields(row, new.lookup_hash))
                    pipe.set(f"{self.prefix}:lookup:{new.lookup_hash}", row.id)
                    pipe.set(current_key, row.id)
                    self._stage(pipe, created_events)
                    pipe.execute()
                except redis.WatchError:
                    continue  # another caller changed the subject's token: look again
                self._publish(created_events)
                return row, True
        raise RuntimeError(f"could not get or create a portal token after {_RETRIES} attempts")

    def record_token_access(self, token_id: int, at: datetime, events: EventsFor) -> None:
        """See :meth:`TokenStore.record_token_access`."""
        key = self._token_key(token_id)
        with self.redis.pipeline() as pipe:
            for _attempt in range(_RETRIES):
                try:
                    pipe.watch(key)
                    row = self._load(pipe, token_id)
                    if row is None:
                        pipe.unwatch()
                        return
                    counted = StoredPortalToken(
                        **{
                            **{name: getattr(row, name) for name in StoredPortalToken.__slots__},
                            "access_count": row.access_count + 1,
                            "last_accessed_at": at,
                        }
                    )
                    access_events = list(events(counted))
                    pipe.multi()
                    pipe.hset(
                        key,
                        mapping={
                            "access_count": str(counted.access_count),
                            "last_accessed_at": at.isoformat(),
                        },
                    )
                    self._stage(pipe, access_events)
                    pipe.execute()
                except redis.WatchError:
                    continue
                self._publish(access_events)
                return
        raise RuntimeError(f"could not count an access after {_RETRIES} attempts")

    def revoke_token(
        self, tenant_id: str, token_id: int, at: datetime, events: EventsFor = no_events
    ) -> bool:
        """See :meth:`TokenStore.revoke_token`."""
        key = self._token_key(token_id)
        with self.redis.pipeline() as pipe:
            for _attempt in range(_RETRIES):
                try:
                    pipe.watch(key)
                    row = self._load(pipe, token_id)
                    if row is None or row.tenant_id != tenant_id or row.revoked_at is not None:
                        pipe.unwatch()
                        return False
                    current_key = self._current_key(tenant_id, row.subject_type, row.subject_id)
                    pipe.watch(current_key)
                    is_current = pipe.get(current_key) == str(token_id)
                    revoked = StoredPortalToken(
                        **{
                            **{name: getattr(row, name) for name in StoredPortalToken.__slots__},
                            "revoked_at": at,
                            "current": False,
                        }
                    )
                    revoke_events = list(events(revoked))
                    pipe.multi()
                    pipe.hset(key, mapping={"revoked_at": at.isoformat(), "current": ""})
                    if is_current:
                        pipe.delete(current_key)
                    self._stage(pipe, revoke_events)
                    pipe.execute()
                except redis.WatchError:
                    continue
                self._publish(revoke_events)
                return True
        raise RuntimeError(f"could not revoke a token after {_RETRIES} attempts")


class RedisTokenStorePlugin:
    """The plugin: provides a :class:`RedisTokenStore` built from its settings."""

    client_portal_settings = RedisTokenStoreSettings

    @hookimpl
    def client_portal_token_store(
        self, settings: Settings, event_sink: EventSink
    ) -> RedisTokenStore:
        """The store, on the Redis server of ``RedisTokenStoreSettings.url``."""
        config = RedisTokenStoreSettings.from_settings(settings)
        client = redis.Redis.from_url(config.url, decode_responses=True)
        return RedisTokenStore(client, event_sink, key_prefix=config.key_prefix)


#: What the entry point names.
plugin = RedisTokenStorePlugin()
