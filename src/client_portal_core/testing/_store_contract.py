"""The checks every token store passes: :class:`TokenStoreContract`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ..errors import TokenInvalid
from ..events import TOKEN_ACCESSED, TOKEN_CREATED, DomainEvent
from ..services import ClientPortal
from ..storage import StoredPortalToken, TokenStore
from ..tokens import NewPortalToken
from ._portal import make_test_portal, outbox_events

__all__ = ["TokenStoreContract"]

#: Threads racing for one subject's token.
RACERS = 16
_T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
#: The event type the checks' events carry (any type an endpoint receives will
#: do: the store persists what it is given); ``data["change"]`` says which change.
_PROBE_TYPE = TOKEN_ACCESSED


class _Subject:
    """One subject's calls to the store, with the core's callbacks, counted."""

    def __init__(self, portal: ClientPortal, tenant: str, subject_id: str) -> None:
        self.portal, self.tenant, self.subject_id = portal, tenant, subject_id
        self.minted = 0
        self._lock = threading.Lock()

    def mint(self, days: int = 30, at: datetime = _T0) -> tuple[NewPortalToken, datetime, datetime]:
        with self._lock:
            self.minted += 1
        return self.portal.codec.mint(), at, at + timedelta(days=days)

    def issue(
        self, *, now: datetime = _T0, days: int = 30, usable: bool = True
    ) -> tuple[StoredPortalToken, bool]:
        def is_usable(row: StoredPortalToken) -> bool:
            return usable and row.revoked_at is None and row.expires_at > now

        def events(row: StoredPortalToken) -> list[DomainEvent]:
            data = {"token_id": row.id, "subject_id": row.subject_id}
            return [DomainEvent(TOKEN_CREATED, row.tenant_id, row.created_at, data)]

        return self.portal.token_store.get_or_create_token(
            self.tenant,
            "contact",
            self.subject_id,
            is_usable=is_usable,
            mint=lambda: self.mint(days, now),
            events=events,
        )


def _events_of(row_id: int, change: str) -> Any:
    def events(row: StoredPortalToken) -> list[DomainEvent]:
        assert row.id == row_id, "events(row) was given another token's row"
        return [
            DomainEvent(_PROBE_TYPE, row.tenant_id, _T0, {"token_id": row.id, "change": change})
        ]

    return events


def _changes(portal: ClientPortal, tenant_id: str) -> list[str]:
    return [str(data.get("change")) for _, data in outbox_events(portal, tenant_id)]


class TokenStoreContract:
    """Checks for any token store; subclass it in a ``Test*`` class of your suite.

    The store is installed the way a host installs it: through the
    ``client_portal_token_store`` hook of a plugin, in a portal on a
    temporary SQLite file (override ``contract_database_url`` for another
    database). Define ``token_store_plugin`` (and, if the plugin has
    settings, ``token_store_plugin_settings``); each test needs an empty store::

        class TestRedisStore(TokenStoreContract):
            @pytest.fixture
            def token_store_plugin(self):
                return RedisTokenStorePlugin()

            @pytest.fixture
            def token_store_plugin_settings(self, redis_prefix):
                return {"redis_token_store": {"key_prefix": redis_prefix}}

    Without overrides it checks the library's own SQL store. Events are
    checked where webhooks read them: the portal's outbox.
    """

    @pytest.fixture
    def token_store_plugin(self) -> object | None:
        """The plugin providing the store; ``None``: the library's SQL store."""
        return None

    @pytest.fixture
    def token_store_plugin_settings(self) -> dict[str, Any]:
        """Plugins' own settings (``Settings.plugins``): ``{"my_store": {...}}``."""
        return {}

    @pytest.fixture
    def contract_database_url(self, tmp_path: Any) -> str:
        """The portal's database: an empty SQLite file by default."""
        return f"sqlite:///{tmp_path / 'contract.db'}"

    @pytest.fixture
    def store_portal(
        self,
        token_store_plugin: object | None,
        token_store_plugin_settings: dict[str, Any],
        contract_database_url: str,
    ) -> Iterator[ClientPortal]:
        """A portal using the store, with a webhook endpoint per tenant (the outbox)."""
        plugins = () if token_store_plugin is None else (token_store_plugin,)
        portal = make_test_portal(
            contract_database_url,
            plugins=plugins,
            clock=lambda: _T0,
            plugin_settings=token_store_plugin_settings,
        )
        for tenant in ("tenant-a", "tenant-b"):
            portal.add_webhook_endpoint(tenant, "http://127.0.0.1:9/hooks")
        try:
            yield portal
        finally:
            portal.engine.dispose()

    @pytest.fixture
    def store(self, store_portal: ClientPortal) -> TokenStore:
        """The store under test."""
        return store_portal.token_store

    # -- get-or-create --------------------------------------------------------

    def test_first_issue_creates_a_current_token_with_its_event(
        self, store_portal: ClientPortal
    ) -> None:
        subject = _Subject(store_portal, "tenant-a", "1")
        row, created = subject.issue(days=30)

        assert created is True
        assert isinstance(row.id, int)
        assert row.id > 0
        assert (row.tenant_id, row.subject_type, row.subject_id) == ("tenant-a", "contact", "1")
        assert row.current is True
        assert (row.created_at, row.expires_at) == (_T0, _T0 + timedelta(days=30))
        assert row.created_at.tzinfo is not None
        assert (row.revoked_at, row.last_accessed_at, row.access_count) == (None, None, 0)
        assert outbox_events(store_portal, "tenant-a") == [
            (TOKEN_CREATED, {"token_id": row.id, "subject_id": "1"})
        ]

    def test_issue_returns_the_usable_current_token_without_minting(
        self, store_portal: ClientPortal
    ) -> None:
        subject = _Subject(store_portal, "tenant-a", "1")
        first, _ = subject.issue()
        again, created = subject.issue()

        assert (again, created) == (first, False)
        assert subject.minted == 1
        assert len(outbox_events(store_portal, "tenant-a")) == 1

    def test_racing_issues_create_exactly_one_token(self, store_portal: ClientPortal) -> None:
        subject = _Subject(store_portal, "tenant-a", "1")
        barrier = threading.Barrier(RACERS)

        def race(_: int) -> tuple[StoredPortalToken, bool]:
            barrier.wait(timeout=30)
            return subject.issue()

        with ThreadPoolExecutor(RACERS) as pool:
            results = list(pool.map(race, range(RACERS)))

        assert len({row.id for row, _ in results}) == 1
        assert sum(created for _, created in results) == 1
        assert len(outbox_events(store_portal, "tenant-a")) == 1

    def test_an_unusable_current_token_is_replaced_and_retired(
        self, store_portal: ClientPortal, store: TokenStore
    ) -> None:
        subject = _Subject(store_portal, "tenant-a", "1")
        old, _ = subject.issue(days=1)
        new, created = subject.issue(now=_T0 + timedelta(days=2))

        assert created is True
        assert new.id != old.id
        assert new.current is True
        retired = store.get_token("tenant-a", old.id)
        assert retired is not None
        assert retired.current is False
        assert [data["token_id"] for _, data in outbox_events(store_portal, "tenant-a")] == [
            old.id,
            new.id,
        ]

    def test_subjects_and_tenants_get_tokens_of_their_own(self, store_portal: ClientPortal) -> None:
        rows = [
            _Subject(store_portal, tenant, subject_id).issue()[0]
            for tenant, subject_id in [("tenant-a", "1"), ("tenant-a", "2"), ("tenant-b", "1")]
        ]

        assert len({row.id for row in rows}) == 3
        assert len({row.sealed for row in rows}) == 3

    # -- reads --------------------------------------------------------------------

    def test_get_token_is_scoped_to_its_tenant(
        self, store_portal: ClientPortal, store: TokenStore
    ) -> None:
        row, _ = _Subject(store_portal, "tenant-a", "1").issue()

        assert store.get_token("tenant-a", row.id) == row
        assert store.get_token("tenant-b", row.id) is None
        assert store.get_token("tenant-a", row.id + 1000) is None

    def test_lookup_by_hash_finds_the_token_in_any_tenant(
        self, store_portal: ClientPortal, store: TokenStore
    ) -> None:
        subject = _Subject(store_portal, "tenant-b", "3")
        row, _ = subject.issue()
        token = store_portal.codec.unseal(row.sealed)
        assert token is not None

        assert store.find_token_by_lookup_hash(store_portal.codec.verify(token)) == row
        assert store.find_token_by_lookup_hash("0" * 64) is None

    # -- revocation ---------------------------------------------------------------

    def test_revoke_is_final_scoped_and_emits_its_event_once(
        self, store_portal: ClientPortal, store: TokenStore
    ) -> None:
        row, _ = _Subject(store_portal, "tenant-a", "1").issue()
        at = _T0 + timedelta(hours=1)
        events = _events_of(row.id, "revoke")

        assert store.revoke_token("tenant-b", row.id, at, events) is False
        assert store.revoke_token("tenant-a", row.id, at, events) is True
        assert store.revoke_token("tenant-a", row.id, at + timedelta(hours=1), events) is False

        revoked = store.get_token("tenant-a", row.id)
        assert revoked is not None
        assert (revoked.revoked_at, revoked.current) == (at, False)
        assert _changes(store_portal, "tenant-a").count("revoke") == 1
        assert outbox_events(store_portal, "tenant-b") == []

    def test_issue_after_revoke_creates_a_new_token(self, store_portal: ClientPortal) -> None:
        subject = _Subject(store_portal, "tenant-a", "1")
        old, _ = subject.issue()
        store_portal.token_store.revoke_token("tenant-a", old.id, _T0)

        new, created = subject.issue()

        assert created is True
        assert new.id != old.id

    # -- accesses -----------------------------------------------------------------

    def test_concurrent_accesses_are_all_counted_with_their_events(
        self, store_portal: ClientPortal, store: TokenStore
    ) -> None:
        row, _ = _Subject(store_portal, "tenant-a", "1").issue()
        at = _T0 + timedelta(minutes=5)
        barrier = threading.Barrier(RACERS)

        def access(_: int) -> None:
            barrier.wait(timeout=30)
            store.record_token_access(row.id, at, _events_of(row.id, "access"))

        with ThreadPoolExecutor(RACERS) as pool:
            list(pool.map(access, range(RACERS)))

        counted = store.get_token("tenant-a", row.id)
        assert counted is not None
        assert (counted.access_count, counted.last_accessed_at) == (RACERS, at)
        assert _changes(store_portal, "tenant-a").count("access") == RACERS

    def test_access_of_an_unknown_token_changes_nothing(
        self, store_portal: ClientPortal, store: TokenStore
    ) -> None:
        store.record_token_access(987654, _T0, _events_of(987654, "access"))

        assert outbox_events(store_portal, "tenant-a") == []

    # -- through the portal ---------------------------------------------------------

    def test_a_whole_invitation_works_through_the_portal(
        self, store_portal: ClientPortal, store: TokenStore
    ) -> None:
        result = store_portal.invite("tenant-a", "contact", "1")
        again = store_portal.get_or_create_token("tenant-a", "contact", "1")
        page = store_portal.open_portal(result.token.token, ip="127.0.0.1")
        stored = store.get_token("tenant-a", result.token.token_id)

        assert again.token == result.token.token
        # A working link signs the browser in: 303 to the portal home with a cookie.
        assert page.status == 303
        assert "Set-Cookie" in page.headers
        assert stored is not None
        assert stored.access_count == 1
        # The visit is in the access log (written from its token_accessed event).
        logged = store_portal.accesses.list_accesses("tenant-a")
        assert [(a.token_id, a.ip, a.preview) for a in logged] == [
            (result.token.token_id, "127.0.0.1", False)
        ]
        assert store_portal.list_invitations("tenant-a")[0].status == "sent"
        assert store_portal.revoke_token("tenant-a", result.token.token_id) is True
        with pytest.raises(TokenInvalid):
            store_portal.verify_token(result.token.token)
        assert store_portal.open_portal(result.token.token).status == 404
