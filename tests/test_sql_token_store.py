"""The SQL token store's queries, called directly, on SQLite and PostgreSQL.

``TokenStoreContract`` (``tests/test_contracts.py``) checks what every store
must do; this file checks what the library's own store adds: the optional
abilities (listing, renewal, subject revocation, expiry), the retry of a lost
insert race, and that a valid token is read without a write transaction.
Written for the survivors of ``make mutation`` (``docs/mutation.md``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from client_portal_core import ClientPortal
from client_portal_core.events import TOKEN_CREATED, DomainEvent
from client_portal_core.storage import SqlTokenStore, StoredPortalToken, TokenQuery
from client_portal_core.testing import make_test_portal, outbox_events
from client_portal_core.tokens import NewPortalToken

T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def portal(database_url: str) -> Iterator[ClientPortal]:
    portal = make_test_portal(database_url, clock=lambda: T0)
    portal.add_webhook_endpoint("tenant-a", "http://127.0.0.1:9/hooks")  # its outbox: the events
    try:
        yield portal
    finally:
        portal.engine.dispose()


@pytest.fixture
def store(portal: ClientPortal) -> SqlTokenStore:
    assert isinstance(portal.token_store, SqlTokenStore)
    return portal.token_store


class Minter:
    """A :data:`Mint` that counts its calls; ``repeat`` hands out one token every
    time, so every insert after the first collides on the unique lookup hash."""

    def __init__(self, portal: ClientPortal, *, days: int = 30, repeat: bool = False) -> None:
        self.portal, self.days, self.calls = portal, days, 0
        self._fixed: NewPortalToken | None = portal.codec.mint() if repeat else None

    def __call__(self) -> tuple[NewPortalToken, datetime, datetime]:
        self.calls += 1
        token = self._fixed or self.portal.codec.mint()
        return token, T0, T0 + timedelta(days=self.days)


def created(row: StoredPortalToken) -> list[DomainEvent]:
    return [DomainEvent(TOKEN_CREATED, row.tenant_id, T0, {"token_id": row.id})]


def revocation(revoked: Any, new: StoredPortalToken | None) -> list[DomainEvent]:
    data = {"revoked": [row.id for row in revoked], "new": None if new is None else new.id}
    tenant = (new or revoked[0]).tenant_id
    return [DomainEvent(TOKEN_CREATED, tenant, T0, data)]


def issue(
    portal: ClientPortal,
    store: SqlTokenStore,
    subject_id: str = "1",
    *,
    tenant: str = "tenant-a",
    kind: str = "contact",
    days: int = 30,
) -> StoredPortalToken:
    row, _ = store.get_or_create_token(
        tenant,
        kind,
        subject_id,
        is_usable=lambda r: r.revoked_at is None and r.expires_at > T0,
        mint=Minter(portal, days=days),
        events=created,
    )
    return row


def colliding_minter(portal: ClientPortal, store: SqlTokenStore) -> Minter:
    """A :data:`Mint` whose one token is already stored (as subject 2's): every
    insert it makes collides; its count starts at 0."""
    mint = Minter(portal, repeat=True)
    store.get_or_create_token(
        "tenant-a", "contact", "2", is_usable=lambda r: True, mint=mint, events=created
    )
    mint.calls = 0
    return mint


def ids(rows: list[StoredPortalToken]) -> list[int]:
    return [row.id for row in rows]


# -- get-or-create ------------------------------------------------------------------


def test_a_valid_token_is_read_without_waiting_for_a_writer(
    portal: ClientPortal, store: SqlTokenStore, database_url: str
) -> None:
    row = issue(portal, store)
    table = portal.tables.portal_tokens.name
    holder = sa.create_engine(database_url)
    answers: list[tuple[StoredPortalToken, bool]] = []

    def get_or_create() -> None:
        answers.append(
            store.get_or_create_token(
                "tenant-a",
                "contact",
                "1",
                is_usable=lambda r: True,
                mint=Minter(portal),
                events=created,
            )
        )

    reader = threading.Thread(target=get_or_create)
    with holder.connect() as writer:
        # SQLite: the write lock; PostgreSQL: every token row's lock. Either
        # blocks a write transaction of the store, neither a plain read.
        if database_url.startswith("sqlite"):
            writer.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            writer.execute(sa.text(f"SELECT id FROM {table} FOR UPDATE"))
        reader.start()
        reader.join(timeout=20)
        answered_while_locked = not reader.is_alive()
        writer.rollback()
    reader.join(timeout=60)
    holder.dispose()

    assert answered_while_locked, "a valid token waited for another writer's lock"
    assert answers == [(row, False)]


def test_a_token_created_between_the_read_and_the_lock_is_handed_out_not_replaced(
    portal: ClientPortal, store: SqlTokenStore
) -> None:
    first = issue(portal, store)
    seen: list[int] = []

    def is_usable(row: StoredPortalToken) -> bool:
        # Unusable to the unlocked read, usable under the lock: what a request
        # sees when another one creates the token between its two reads.
        seen.append(row.id)
        return len(seen) > 1

    mint = Minter(portal)
    again, was_created = store.get_or_create_token(
        "tenant-a", "contact", "1", is_usable=is_usable, mint=mint, events=created
    )

    assert (again, was_created) == (first, False)
    assert seen == [first.id, first.id]
    assert mint.calls == 0
    assert len(outbox_events(portal, "tenant-a")) == 1


def test_an_insert_that_keeps_colliding_is_retried_five_times_then_refused(
    portal: ClientPortal, store: SqlTokenStore
) -> None:
    issue(portal, store, "1")
    mint = colliding_minter(portal, store)

    with pytest.raises(
        RuntimeError, match=r"^could not get or create a portal token after 5 attempts$"
    ):
        store.get_or_create_token(
            "tenant-a", "contact", "3", is_usable=lambda r: True, mint=mint, events=created
        )

    assert mint.calls == 5
    assert store.list_tokens(TokenQuery(now=T0, subject_id="3")) == []


# -- listing ------------------------------------------------------------------------


@pytest.fixture
def listed(portal: ClientPortal, store: SqlTokenStore) -> dict[str, StoredPortalToken]:
    """Tokens of every kind: active, expired (exactly at T0), revoked, renewed, other tenant."""
    rows = {
        "active": issue(portal, store, "1", days=30),
        "expiring": issue(portal, store, "2", days=5),
        "company": issue(portal, store, "1", kind="company", days=30),
        "other_tenant": issue(portal, store, "1", tenant="tenant-b", days=30),
        "revoked": issue(portal, store, "3", days=30),
        "renewed": issue(portal, store, "4", days=30),
    }
    assert store.revoke_token("tenant-a", rows["revoked"].id, T0)
    successor = store.renew_token(rows["renewed"].id, T0, mint=Minter(portal), events=created)
    assert successor is not None
    rows["successor"] = successor
    # Expired exactly now: ``expires_at <= now`` is expired, not active.
    expired = issue(portal, store, "5", days=30)
    assert store.set_token_expiry("tenant-a", expired.id, T0) is not None
    rows["expired"] = expired
    return rows


def list_ids(store: SqlTokenStore, **query: Any) -> list[int]:
    return ids(store.list_tokens(TokenQuery(now=T0, **query)))


def test_tokens_are_listed_newest_first_within_the_tenant_with_every_field(
    store: SqlTokenStore, listed: dict[str, StoredPortalToken]
) -> None:
    rows = store.list_tokens(TokenQuery(now=T0, tenant_id="tenant-a"))

    assert ids(rows) == sorted(
        (r.id for n, r in listed.items() if n != "other_tenant"), reverse=True
    )
    assert all(row == store.get_token("tenant-a", row.id) for row in rows)
    everyone = list_ids(store)
    assert listed["other_tenant"].id in everyone
    assert len(everyone) == len(rows) + 1
    assert list_ids(store, tenant_id="tenant-b") == [listed["other_tenant"].id]


def test_tokens_are_listed_by_subject_type_and_id(
    store: SqlTokenStore, listed: dict[str, StoredPortalToken]
) -> None:
    assert list_ids(store, tenant_id="tenant-a", subject_type="company") == [listed["company"].id]
    assert list_ids(store, tenant_id="tenant-a", subject_id="1") == [
        listed["company"].id,
        listed["active"].id,
    ]
    assert list_ids(store, tenant_id="tenant-a", subject_type="contact", subject_id="1") == [
        listed["active"].id
    ]


def test_tokens_are_listed_by_status_judged_at_the_querys_time(
    store: SqlTokenStore, listed: dict[str, StoredPortalToken]
) -> None:
    def status(name: str) -> set[int]:
        return set(list_ids(store, tenant_id="tenant-a", status=name))

    names = {row.id: name for name, row in listed.items()}
    assert {names[i] for i in status("revoked")} == {"revoked"}
    assert {names[i] for i in status("expired")} == {"expired"}
    assert {names[i] for i in status("active")} == {
        "active",
        "expiring",
        "company",
        "renewed",
        "successor",
    }
    # Ten days on, the five-day token has expired too; a revoked one is never "expired".
    later = TokenQuery(now=T0 + 10 * DAY, tenant_id="tenant-a", status="expired")
    assert {names[i] for i in ids(store.list_tokens(later))} == {"expired", "expiring"}


def test_expiring_tokens_are_the_active_ones_expiring_by_the_bound(
    store: SqlTokenStore, listed: dict[str, StoredPortalToken]
) -> None:
    def expiring(before: datetime, now: datetime = T0) -> set[int]:
        query = TokenQuery(now=now, tenant_id="tenant-a", expiring_before=before)
        return set(ids(store.list_tokens(query)))

    assert expiring(T0 + 5 * DAY) == {listed["expiring"].id}  # the bound itself is included
    assert expiring(T0 + 5 * DAY - timedelta(seconds=1)) == set()
    thirty = {listed[n].id for n in ("expiring", "active", "company", "renewed", "successor")}
    assert expiring(T0 + 30 * DAY) == thirty  # never the revoked or the expired one
    assert expiring(T0 + 30 * DAY, now=T0 + 5 * DAY) == thirty - {listed["expiring"].id}


def test_renewable_tokens_are_current_and_unclaimed(
    store: SqlTokenStore, listed: dict[str, StoredPortalToken]
) -> None:
    renewable = set(list_ids(store, tenant_id="tenant-a", renewable=True))

    assert renewable == {
        listed[n].id for n in ("active", "expiring", "company", "successor", "expired")
    }


def test_tokens_are_listed_a_page_at_a_time_below_the_cursor(
    store: SqlTokenStore, listed: dict[str, StoredPortalToken]
) -> None:
    every = list_ids(store, tenant_id="tenant-a")
    first = list_ids(store, tenant_id="tenant-a", limit=3)
    second = list_ids(store, tenant_id="tenant-a", limit=3, before_id=first[-1])
    rest = list_ids(store, tenant_id="tenant-a", limit=3, before_id=second[-1])

    assert first + second + rest == every
    assert (len(first), len(second)) == (3, 3)


# -- revocation -----------------------------------------------------------------------


def test_revoking_a_token_clears_its_current_mark_and_returns_the_row_to_its_events(
    portal: ClientPortal, store: SqlTokenStore
) -> None:
    row = issue(portal, store)
    given: list[StoredPortalToken] = []

    def events(revoked: StoredPortalToken) -> list[DomainEvent]:
        given.append(revoked)
        return []

    assert store.revoke_token("tenant-a", row.id, T0 + DAY, events) is True

    [revoked] = given
    assert (revoked.id, revoked.revoked_at, revoked.current) == (row.id, T0 + DAY, False)
    assert store.list_tokens(TokenQuery(now=T0, tenant_id="tenant-a", renewable=True)) == []


def test_revoking_a_subject_revokes_its_unrevoked_tokens_only(
    portal: ClientPortal, store: SqlTokenStore
) -> None:
    old = issue(portal, store, "1", days=1)
    assert store.revoke_token("tenant-a", old.id, T0 - DAY)
    current = issue(portal, store, "1")
    renewed = store.renew_token(current.id, T0, mint=Minter(portal), events=created)
    assert renewed is not None
    bystanders = [
        issue(portal, store, "2"),
        issue(portal, store, "1", kind="company"),
        issue(portal, store, "1", tenant="tenant-b"),
    ]
    at = T0 + DAY

    revoked, new = store.revoke_subject_tokens(
        "tenant-a", "contact", "1", at, mint=None, events=revocation
    )

    assert ids(revoked) == [current.id, renewed.id]  # by id; not the one revoked before
    assert all((r.revoked_at, r.current) == (at, False) for r in revoked)
    assert new is None
    before = store.get_token("tenant-a", old.id)
    assert before is not None
    assert before.revoked_at == T0 - DAY
    for row in bystanders:
        assert store.get_token(row.tenant_id, row.id) == row
    [(_, data)] = [e for e in outbox_events(portal, "tenant-a") if "revoked" in e[1]]
    assert data == {"revoked": [current.id, renewed.id], "new": None}


def test_regenerating_revokes_and_mints_the_new_current_token_in_one_change(
    portal: ClientPortal, store: SqlTokenStore
) -> None:
    old = issue(portal, store)
    mint = Minter(portal, days=10)

    revoked, new = store.revoke_subject_tokens(
        "tenant-a", "contact", "1", T0, mint=mint, events=revocation
    )

    assert ids(revoked) == [old.id]
    assert new is not None
    assert mint.calls == 1
    assert (new.tenant_id, new.subject_type, new.subject_id) == ("tenant-a", "contact", "1")
    assert (new.current, new.revoked_at, new.expires_at) == (True, None, T0 + 10 * DAY)
    assert list_ids(store, tenant_id="tenant-a", renewable=True) == [new.id]
    [(_, data)] = [e for e in outbox_events(portal, "tenant-a") if "revoked" in e[1]]
    assert data == {"revoked": [old.id], "new": new.id}


def test_a_regeneration_that_keeps_colliding_is_retried_five_times_and_changes_nothing(
    portal: ClientPortal, store: SqlTokenStore
) -> None:
    old = issue(portal, store, "1")
    mint = colliding_minter(portal, store)

    with pytest.raises(
        RuntimeError, match=r"^could not revoke the subject's portal tokens after 5 attempts$"
    ):
        store.revoke_subject_tokens("tenant-a", "contact", "1", T0, mint=mint, events=revocation)

    assert mint.calls == 5
    assert store.get_token("tenant-a", old.id) == old


# -- renewal ----------------------------------------------------------------------------


def test_renewal_claims_the_token_and_mints_its_successor_for_the_same_subject(
    portal: ClientPortal, store: SqlTokenStore
) -> None:
    old = issue(portal, store, "7", kind="company", tenant="tenant-b", days=3)
    given: list[StoredPortalToken] = []

    def events(row: StoredPortalToken) -> list[DomainEvent]:
        given.append(row)
        return created(row)

    new = store.renew_token(old.id, T0 + DAY, mint=Minter(portal, days=30), events=events)

    assert new is not None
    assert given == [new]
    assert (new.tenant_id, new.subject_type, new.subject_id) == ("tenant-b", "company", "7")
    assert (new.current, new.renewed_at, new.expires_at) == (True, None, T0 + 30 * DAY)
    claimed = store.get_token("tenant-b", old.id)
    assert claimed is not None
    assert (claimed.renewed_at, claimed.current, claimed.revoked_at) == (T0 + DAY, False, None)
    assert claimed.expires_at == old.expires_at  # still valid until it expires


def test_only_a_current_unrevoked_unclaimed_token_is_renewed(
    portal: ClientPortal, store: SqlTokenStore
) -> None:
    revoked = issue(portal, store, "1")
    assert store.revoke_token("tenant-a", revoked.id, T0)
    claimed = issue(portal, store, "2")
    assert store.renew_token(claimed.id, T0, mint=Minter(portal), events=created) is not None
    replaced = issue(portal, store, "3", days=1)
    store.get_or_create_token(
        "tenant-a", "contact", "3", is_usable=lambda r: False, mint=Minter(portal), events=created
    )
    mint = Minter(portal)

    for row in (revoked, claimed, replaced):
        assert store.renew_token(row.id, T0, mint=mint, events=created) is None
    assert store.renew_token(987654, T0, mint=mint, events=created) is None

    assert mint.calls == 0
    for row in (revoked, replaced):
        unchanged = store.get_token("tenant-a", row.id)
        assert unchanged is not None
        assert unchanged.renewed_at is None


def test_a_renewal_that_keeps_colliding_is_retried_five_times_and_leaves_the_token_unclaimed(
    portal: ClientPortal, store: SqlTokenStore
) -> None:
    old = issue(portal, store, "1")
    mint = colliding_minter(portal, store)

    with pytest.raises(RuntimeError, match=r"^could not renew the portal token after 5 attempts$"):
        store.renew_token(old.id, T0, mint=mint, events=created)

    assert mint.calls == 5
    assert store.get_token("tenant-a", old.id) == old


# -- expiry and language ----------------------------------------------------------------


def test_a_new_expiry_is_set_on_that_tenants_unrevoked_token_only(
    portal: ClientPortal, store: SqlTokenStore
) -> None:
    row = issue(portal, store, "1")
    other = issue(portal, store, "2")
    revoked = issue(portal, store, "3")
    assert store.revoke_token("tenant-a", revoked.id, T0)
    later = T0 + 90 * DAY

    assert store.set_token_expiry("tenant-b", row.id, later) is None
    assert store.set_token_expiry("tenant-a", revoked.id, later) is None
    changed = store.set_token_expiry("tenant-a", row.id, later)

    assert changed is not None
    assert (changed.id, changed.expires_at) == (row.id, later)
    assert changed == store.get_token("tenant-a", row.id)
    assert store.get_token("tenant-a", other.id) == other
    still = store.get_token("tenant-a", revoked.id)
    assert still is not None
    assert still.expires_at == revoked.expires_at


def test_a_tokens_language_is_set_changed_and_kept_on_that_token_only(
    portal: ClientPortal, store: SqlTokenStore
) -> None:
    row = issue(portal, store, "1")
    other = issue(portal, store, "2")

    def locale(token: StoredPortalToken) -> str | None:
        found = store.get_token("tenant-a", token.id)
        assert found is not None
        return found.locale

    store.set_token_locale(row.id, "de")
    assert (locale(row), locale(other)) == ("de", None)
    store.set_token_locale(row.id, "en")
    assert (locale(row), locale(other)) == ("en", None)
