"""Per-tenant portal configuration through the Python API: defaults, updates, validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from client_portal_core import ClientPortal, PortalConfig, PortalConfigUpdate
from conftest import START, TENANT_A, TENANT_B, FakeClock, FakeMonotonic


def test_a_tenant_that_never_configured_gets_the_defaults(portal: ClientPortal) -> None:
    config = portal.get_config("never-seen")

    assert config == PortalConfig()
    assert config.portal_name == "Client Portal"
    assert (config.primary_color, config.secondary_color) == ("#3B82F6", "#1E40AF")
    assert config.enabled_modules == ["invoices", "proposals", "tasks"]
    assert config.token_expiration_days == 30


def test_update_config_keeps_unset_fields_and_persists(make_portal: Any) -> None:
    portal = make_portal()
    portal.update_config(TENANT_A, portal_name="Acme")
    portal.update_config(TENANT_A, PortalConfigUpdate(show_activity_feed=False))

    reread = make_portal(create_schema=False).get_config(TENANT_A)

    assert reread.portal_name == "Acme"
    assert reread.show_activity_feed is False
    assert reread.primary_color == "#3B82F6"
    assert portal.get_config(TENANT_B) == PortalConfig()


@pytest.mark.parametrize(
    ("writer", "bystander"),
    [
        pytest.param(TENANT_A, TENANT_B, id="a-leaves-b"),
        pytest.param(TENANT_B, TENANT_A, id="b-leaves-a"),
    ],
)
def test_one_tenants_update_leaves_every_other_tenants_stored_config_alone(
    make_portal: Any, writer: str, bystander: str
) -> None:
    portal = make_portal()
    portal.update_config(writer, portal_name="Writer's first")
    portal.update_config(bystander, portal_name="Bystander's own", primary_color="#112233")

    portal.update_config(writer, portal_name="Writer's second", primary_color="#445566")

    # Read back uncached, as another process would: what the database holds.
    stored = make_portal(create_schema=False, config_cache_seconds=0)
    mine, theirs = stored.get_config(writer), stored.get_config(bystander)
    assert (mine.portal_name, mine.primary_color) == ("Writer's second", "#445566")
    assert (theirs.portal_name, theirs.primary_color) == ("Bystander's own", "#112233")


def stored_row(portal: ClientPortal, tenant_id: str) -> Any:
    table = portal.tables.configs
    with portal.engine.connect() as conn:
        return conn.execute(sa.select(table).where(table.c.tenant_id == tenant_id)).one()


def test_each_update_records_when_the_config_last_changed(
    portal: ClientPortal, clock: FakeClock
) -> None:
    portal.update_config(TENANT_A, portal_name="First")
    assert stored_row(portal, TENANT_A).updated_at == START
    clock.advance(days=2)

    portal.update_config(TENANT_A, portal_name="Second")

    assert stored_row(portal, TENANT_A).updated_at == START + timedelta(days=2)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_first_config_saved_by_two_processes_at_once_keeps_the_later_save(
    make_portal: Any,
) -> None:
    # On PostgreSQL both processes can find no row and both insert; the loser
    # of the unique key updates the winner's row instead. (SQLite writers take
    # the write lock first, BEGIN IMMEDIATE, so they never race.)
    ours, other = make_portal(config_cache_seconds=0), make_portal(config_cache_seconds=0)
    configs = ours.tables.configs.name.upper()
    raced: list[str] = []

    def other_process_saves_first(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not raced and statement.lstrip().upper().startswith(f"INSERT INTO {configs}"):
            raced.append(statement)
            other.update_config(TENANT_A, portal_name="Other", primary_color="#112233")

    sa.event.listen(ours.engine, "before_cursor_execute", other_process_saves_first)
    try:
        ours.update_config(TENANT_A, portal_name="Ours")
    finally:
        sa.event.remove(ours.engine, "before_cursor_execute", other_process_saves_first)

    assert raced
    stored = make_portal(create_schema=False, config_cache_seconds=0).get_config(TENANT_A)
    assert (stored.portal_name, stored.primary_color) == ("Ours", "#3B82F6")


def test_colors_are_normalized_to_upper_case(portal: ClientPortal) -> None:
    assert portal.update_config(TENANT_A, primary_color="#abcdef").primary_color == "#ABCDEF"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"primary_color": "blue"}, id="color-name"),
        pytest.param({"primary_color": "#12345"}, id="color-short"),
        pytest.param({"secondary_color": "#GGGGGG"}, id="color-not-hex"),
        pytest.param({"secondary_color": "123456"}, id="color-without-hash"),
        pytest.param({"primary_color": "#FFFFFF\n"}, id="color-trailing-newline"),
        pytest.param({"enabled_modules": ["invoices", "chat"]}, id="unknown-module"),
        pytest.param({"token_expiration_days": 0}, id="days-0"),
        pytest.param({"token_expiration_days": 366}, id="days-366"),
        pytest.param({"token_expiration_days": -1}, id="days-negative"),
        pytest.param({"portal_name": ""}, id="empty-name"),
        pytest.param({"portal_logo": "javascript:alert(1)"}, id="logo-script-url"),
        pytest.param({"favourite_colour": "#000000"}, id="unknown-field"),
    ],
)
def test_invalid_config_is_rejected_and_not_saved(
    portal: ClientPortal, change: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        portal.update_config(TENANT_A, **change)

    assert portal.get_config(TENANT_A) == PortalConfig()


@pytest.mark.parametrize("days", [1, 365])
def test_token_expiration_days_bounds_are_accepted(portal: ClientPortal, days: int) -> None:
    portal.update_config(TENANT_A, token_expiration_days=days)

    issued = portal.get_or_create_token(TENANT_A, "contact", 1)

    assert issued.expires_at == START + timedelta(days=days)


def test_repeated_modules_are_kept_once_in_order(portal: ClientPortal) -> None:
    config = portal.update_config(TENANT_A, enabled_modules=["tasks", "files", "tasks"])

    assert config.enabled_modules == ["tasks", "files"]


def test_config_cache_serves_other_processes_changes_after_its_ttl(make_portal: Any) -> None:
    # Two portals on one database stand for two processes.
    elapsed = FakeMonotonic()
    cached = make_portal(config_cache_seconds=5, monotonic=elapsed)
    uncached = make_portal(config_cache_seconds=0)
    assert cached.get_config(TENANT_A).portal_name == "Client Portal"

    uncached.update_config(TENANT_A, portal_name="Changed Elsewhere")
    elapsed.advance(4.9)

    assert uncached.get_config(TENANT_A).portal_name == "Changed Elsewhere"
    assert cached.get_config(TENANT_A).portal_name == "Client Portal"  # within its TTL
    elapsed.advance(0.2)
    assert cached.get_config(TENANT_A).portal_name == "Changed Elsewhere"


def test_update_config_applies_at_once_in_its_process(make_portal: Any) -> None:
    portal = make_portal(config_cache_seconds=3600)
    portal.get_config(TENANT_A)

    portal.update_config(TENANT_A, primary_color="#112233")

    assert portal.get_config(TENANT_A).primary_color == "#112233"


def test_update_config_patches_the_stored_config_not_a_stale_cached_one(
    make_portal: Any,
) -> None:
    first = make_portal(config_cache_seconds=3600)
    other = make_portal(config_cache_seconds=3600)
    first.get_config(TENANT_A)  # cached before the other process's change
    other.update_config(TENANT_A, portal_name="Acme")

    first.update_config(TENANT_A, primary_color="#112233")

    stored = make_portal(config_cache_seconds=0).get_config(TENANT_A)
    assert (stored.portal_name, stored.primary_color) == ("Acme", "#112233")


def test_settings_are_read_from_client_portal_environment_variables() -> None:
    from client_portal_core import Settings

    settings = Settings.from_env(
        {
            "CLIENT_PORTAL_SECRET_KEYS": "old-key-0123456789abcdef,new-key-0123456789abcdef",
            "CLIENT_PORTAL_DATABASE_URL": "sqlite:///from-env.db",
            "CLIENT_PORTAL_RATE_LIMIT": "10/second",
            "CLIENT_PORTAL_TEMPLATE_DIRS": "/a,/b",
            "UNRELATED": "ignored",
        },
        public_url="https://override.example",
    )

    assert [key.get_secret_value() for key in settings.secret_keys] == [
        "old-key-0123456789abcdef",
        "new-key-0123456789abcdef",
    ]
    assert settings.database_url == "sqlite:///from-env.db"
    assert settings.rate_limit == "10/second"
    assert settings.template_dirs == ["/a", "/b"]
    assert settings.public_url == "https://override.example"


def test_a_single_secret_key_variable_is_accepted() -> None:
    from client_portal_core import Settings

    settings = Settings.from_env({"CLIENT_PORTAL_SECRET_KEY": "only-key-0123456789abcdef"})

    assert [key.get_secret_value() for key in settings.secret_keys] == ["only-key-0123456789abcdef"]


def test_api_tokens_are_listed_by_hint_and_never_in_full(make_portal: Any) -> None:
    portal = make_portal()
    issued = portal.create_api_token(TENANT_A, name="zapier")

    listed = portal.list_api_tokens(TENANT_A)

    assert [(t.id, t.name, t.hint) for t in listed] == [(issued.id, "zapier", issued.token[:8])]
    assert issued.token not in repr(listed)
    assert portal.list_api_tokens(TENANT_B) == []


def test_api_tokens_are_listed_newest_first_with_every_field(
    portal: ClientPortal, clock: FakeClock
) -> None:
    first = portal.create_api_token(TENANT_A, name="first", scopes=["read"])
    clock.advance(hours=1)
    second = portal.create_api_token(TENANT_A, name="second")
    clock.advance(hours=1)
    portal.revoke_api_token(TENANT_A, first.id)

    listed = portal.list_api_tokens(TENANT_A)

    assert [(t.id, t.tenant_id, t.name, t.created_at, t.revoked_at, t.scopes) for t in listed] == [
        (
            second.id,
            TENANT_A,
            "second",
            START + timedelta(hours=1),
            None,
            ("read", "invite", "admin"),
        ),
        (first.id, TENANT_A, "first", START, START + timedelta(hours=2), ("read",)),
    ]


def test_revoking_an_api_token_revokes_that_one_once_and_no_other(portal: ClientPortal) -> None:
    mine = portal.create_api_token(TENANT_A, name="mine")
    portal.create_api_token(TENANT_A, name="sibling")
    theirs = portal.create_api_token(TENANT_B, name="theirs")

    assert portal.revoke_api_token(TENANT_A, mine.id) is True
    assert portal.revoke_api_token(TENANT_A, mine.id) is False  # already revoked
    assert portal.revoke_api_token(TENANT_A, theirs.id) is False  # another tenant's

    live = {
        t.name: t.revoked_at is None
        for tenant in (TENANT_A, TENANT_B)
        for t in portal.list_api_tokens(tenant)
    }
    assert live == {"mine": False, "sibling": True, "theirs": True}


def test_the_api_token_store_returns_a_new_token_as_it_lists_it(portal: ClientPortal) -> None:
    store = portal.api_tokens.store

    added = store.add_api_token(TENANT_A, "direct", "0" * 64, "cpk_abcd", START, ("read",))

    assert store.list_api_tokens(TENANT_A) == [added]
