"""No usable secret at rest, tampering costs no query, keys rotate, tenants stay apart."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from itsdangerous import Signer

from client_portal_core import (
    ClientPortal,
    invitation_sent,
    token_accessed,
    token_created,
)
from client_portal_core.errors import SubjectNotFound
from client_portal_core.tokens import PortalTokenCodec
from conftest import API, PORTAL, SECRET_KEY, TENANT_A, TENANT_B, PortalClient

OLD_KEY = "old-secret-key-aaaaaaaaaaaaaaaa"
NEW_KEY = "new-secret-key-bbbbbbbbbbbbbbbb"


def every_stored_value(engine: sa.Engine) -> Iterator[tuple[str, str, Any]]:
    """(table, column, value) for every column of every row of every table in the database."""
    metadata = sa.MetaData()
    metadata.reflect(engine)
    assert metadata.tables, "the database has no tables"
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                for column, value in row._mapping.items():
                    yield table.name, str(column), value


@contextmanager
def counting_queries(engine: sa.Engine) -> Iterator[list[str]]:
    """Every statement run through SQLAlchemy and every pooled connection taken.

    The hot lookups run on a raw pooled DBAPI connection, which the
    ``before_cursor_execute`` event does not see; the pool's ``checkout``
    event does, so a lookup cannot hide from this counter.
    """
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    def checkout(*args: Any) -> None:
        statements.append("<connection checkout>")

    sa.event.listen(engine, "before_cursor_execute", count)
    sa.event.listen(engine.pool, "checkout", checkout)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
        sa.event.remove(engine.pool, "checkout", checkout)


# -- nothing usable at rest ---------------------------------------------------


@pytest.mark.portal(webhook_allow_private_urls=True)
def test_database_holds_no_usable_token(
    client: PortalClient, portal: ClientPortal, api_token: str
) -> None:
    # An endpoint makes every event write outbox rows, so those are read too.
    endpoint = portal.add_webhook_endpoint(TENANT_A, "http://127.0.0.1:9/hook")
    secrets = {
        "api token": api_token,
        "webhook secret": endpoint.secret.removeprefix("whsec_"),
    }
    for index, (method, path, payload) in enumerate(
        [
            ("POST", f"{API}/token", {"type": "contact", "id": 1}),
            ("POST", f"{API}/token", {"type": "company", "id": "co-acme-2"}),
            ("POST", f"{API}/contacts/c-7f3e/invite", {"custom_message": "hi"}),
            ("POST", f"{API}/companies/10/invite", None),
        ]
    ):
        reply = client.request(method, path, json=payload) if payload else client.post(path)
        assert reply.status == 200
        token = reply.json()["token"]
        assert client.get(f"{PORTAL}/{token}").status == 303
        secrets[f"portal token {index}"] = token
        secrets[f"portal token {index} id"] = token.split(".")[0]
        secrets[f"portal token {index} signature"] = token.split(".")[1]
    secrets["tenant b api token"] = portal.create_api_token(TENANT_B).token

    stored = list(every_stored_value(portal.engine))
    assert {table for table, _column, _value in stored} >= {
        portal.tables.webhook_messages.name,
        portal.tables.invitations.name,
        portal.tables.portal_tokens.name,
    }
    found = [
        (table, column, what)
        for table, column, value in stored
        for what, secret in secrets.items()
        if value is not None and secret in str(value)
    ]

    assert found == []


def test_api_tokens_are_stored_only_as_their_hash(portal: ClientPortal) -> None:
    issued = portal.create_api_token(TENANT_A, name="deploy")
    table = portal.tables.api_tokens

    with portal.engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.id == issued.id)).one()._mapping

    assert row["token_hash"] == hashlib.sha256(issued.token.encode()).hexdigest()
    assert issued.token not in {str(value) for value in row.values()}
    assert len(row["hint"]) < len(issued.token) // 4


def test_api_tokens_are_cpk_and_exactly_256_random_bits(portal: ClientPortal) -> None:
    tokens = [portal.create_api_token(TENANT_A, name=f"t{i}").token for i in range(20)]

    bodies = [token.removeprefix("cpk_") for token in tokens]
    assert all(token.startswith("cpk_") for token in tokens)
    assert {len(base64.urlsafe_b64decode(body + "=")) for body in bodies} == {32}
    assert {len(body) for body in bodies} == {43}  # unpadded URL-safe base64
    assert len(set(bodies)) == len(bodies)


def test_signals_never_carry_a_token(client: PortalClient, listen: Any) -> None:
    heard = [listen(signal) for signal in (token_created, invitation_sent, token_accessed)]

    token = client.post(f"{API}/contacts/1/invite").json()["token"]
    client.get(f"{PORTAL}/{token}")

    calls = [call for received in heard for call in received.calls]
    assert len(calls) == 3
    for call in calls:
        for value in call.values():
            assert token.split(".")[0] not in str(value)
            assert token.split(".")[1] not in str(value)


# -- tampering ----------------------------------------------------------------


def test_tampered_token_is_rejected_before_any_query(
    client: PortalClient, portal: ClientPortal
) -> None:
    token = portal.get_or_create_token(TENANT_A, "contact", 1).token
    token_id, signature = token.split(".")
    forged = [
        f"{token_id}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}",
        f"{token_id[::-1]}.{signature}",
        PortalTokenCodec([b"attacker-key-0000000000"]).mint().token,
        "garbage",
    ]

    with counting_queries(portal.engine) as statements:
        statuses = [client.get(f"{PORTAL}/{candidate}").status for candidate in forged]

    assert statuses == [404, 404, 404, 404]
    assert statements == []


def test_valid_token_costs_queries_so_the_counter_works(
    client: PortalClient, portal: ClientPortal
) -> None:
    token = portal.get_or_create_token(TENANT_A, "contact", 1).token

    with counting_queries(portal.engine) as statements:
        assert client.get(f"{PORTAL}/{token}").status == 303

    assert statements


def test_the_counter_sees_a_bare_token_lookup(portal: ClientPortal) -> None:
    # verify_token is only the signature check and the indexed lookup (no write):
    # the counter must see that lookup, or the test above proves nothing.
    token = portal.get_or_create_token(TENANT_A, "contact", 1).token

    with counting_queries(portal.engine) as statements:
        portal.verify_token(token)

    assert statements


def test_portal_token_carries_at_least_128_random_bits(portal: ClientPortal) -> None:
    token = portal.get_or_create_token(TENANT_A, "contact", 1).token
    codec = PortalTokenCodec([SECRET_KEY.encode()])
    ids = [token.split(".")[0]] + [codec.mint().token.split(".")[0] for _ in range(2000)]

    # At least 16 bytes behind each id, and no two alike: a constant, a
    # counter or a few bits of randomness would repeat or fall short.
    assert all(len(base64.urlsafe_b64decode(i + "=" * (-len(i) % 4))) >= 16 for i in ids)
    assert len(set(ids)) == len(ids)
    assert len({i[:4] for i in ids}) > 1000  # not a fixed prefix with a short random tail


# -- key rotation -------------------------------------------------------------


def test_old_tokens_verify_after_rotation_and_new_ones_with_the_newest_key_alone(
    make_portal: Any, make_client: Any
) -> None:
    before = make_portal(secret_keys=[OLD_KEY])
    old = before.get_or_create_token(TENANT_A, "contact", 1)

    rotated = make_portal(secret_keys=[OLD_KEY, NEW_KEY], create_schema=False)
    rotated_client: PortalClient = make_client(rotated)
    assert rotated_client.get(f"{PORTAL}/{old.token}").status == 303
    assert rotated.get_or_create_token(TENANT_A, "contact", 1).token == old.token
    new = rotated.get_or_create_token(TENANT_A, "contact", "c-7f3e")

    newest_only = make_portal(secret_keys=[NEW_KEY], create_schema=False)
    newest_client: PortalClient = make_client(newest_only)
    assert newest_client.get(f"{PORTAL}/{new.token}").status == 303
    assert newest_only.get_or_create_token(TENANT_A, "contact", "c-7f3e").token == new.token
    assert newest_client.get(f"{PORTAL}/{old.token}").status == 404


def test_new_tokens_are_signed_by_the_last_key(make_portal: Any) -> None:
    rotated = make_portal(secret_keys=[OLD_KEY, NEW_KEY])
    token = rotated.get_or_create_token(TENANT_A, "contact", 1).token
    salt = PortalTokenCodec.salt

    def verifies(key: str) -> bool:
        signer = Signer(key, salt=salt, key_derivation="hmac", digest_method=hashlib.sha256)
        return signer.validate(token)

    assert verifies(NEW_KEY)
    assert not verifies(OLD_KEY)


def test_token_whose_key_was_dropped_is_replaced_on_get_or_create(make_portal: Any) -> None:
    before = make_portal(secret_keys=[OLD_KEY])
    old = before.get_or_create_token(TENANT_A, "contact", 1)

    after = make_portal(secret_keys=[NEW_KEY], create_schema=False)
    replacement = after.get_or_create_token(TENANT_A, "contact", 1)

    assert replacement.token != old.token
    assert replacement.created is True


# -- tenants ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "subject"),
    [
        pytest.param("contact", 3, id="contact-with-email"),
        pytest.param("contact", 4, id="contact-without-email"),
        pytest.param("company", 20, id="company-with-email"),
        pytest.param("company", "21", id="company-without-email"),
    ],
)
def test_tenant_a_can_never_get_or_invite_tenant_b_subjects(
    portal: ClientPortal, kind: str, subject: Any
) -> None:
    with pytest.raises(SubjectNotFound):
        portal.get_or_create_token(TENANT_A, kind, subject)
    with pytest.raises(SubjectNotFound):
        portal.invite(TENANT_A, kind, subject)

    table = portal.tables.portal_tokens
    with portal.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
    assert portal.mailer.outbox == []  # type: ignore[attr-defined]


def test_a_portal_link_opens_its_own_tenants_portal(
    client: PortalClient, portal: ClientPortal
) -> None:
    portal.update_config(TENANT_A, portal_name="Alpha Portal")
    portal.update_config(TENANT_B, portal_name="Beta Portal")
    token_b = portal.get_or_create_token(TENANT_B, "contact", 3).token

    page = client.browser().visit(f"{PORTAL}/{token_b}").text

    assert "Beta Portal" in page
    assert "Alpha Portal" not in page


def test_secret_keys_must_be_long_enough() -> None:
    from client_portal_core import ConfigurationError, Settings

    with pytest.raises(ConfigurationError):
        Settings.build(secret_key="short")
    assert Settings.build(secret_key=SECRET_KEY).key_bytes() == [SECRET_KEY.encode()]


@pytest.mark.portal(webhook_allow_private_urls=True)
def test_reprs_never_show_secrets(portal: ClientPortal) -> None:
    from client_portal_core import Settings

    settings = Settings.build(
        secret_key=SECRET_KEY,
        database_url="postgresql+psycopg://app:db-password@127.0.0.1/app",
        rate_limit_storage="redis://:redis-password@127.0.0.1:6379/0",
        smtp_url="smtp://user:smtp-password@127.0.0.1:25",
    )
    api_token = portal.create_api_token(TENANT_A, "repr")
    endpoint = portal.add_webhook_endpoint(TENANT_A, "http://127.0.0.1:9/hook")
    issued = portal.get_or_create_token(TENANT_A, "contact", 1)

    shown = " ".join(repr(value) for value in (settings, api_token, endpoint, issued))

    for secret in (
        SECRET_KEY,
        "db-password",
        "redis-password",
        "smtp-password",
        api_token.token,
        endpoint.secret,
        issued.token,
    ):
        assert secret not in shown
