"""Retiring a secret key: ``rotate-keys`` re-seals what is stored under the
newest key and reports what it cannot; an endpoint or a token that no listed
key opens is visible (status, reason, an error logged), never a silent failure."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from client_portal_core import ClientPortal, MemoryMailer, Settings, migrate
from client_portal_core.__main__ import main
from client_portal_core.errors import TokenInvalid
from client_portal_core.tokens import UNSEALABLE, PortalTokenCodec
from client_portal_core.webhooks import WebhookWorker, verify
from conftest import TENANT_A, PortalFactory
from webhook_support import Directory, PortalMaker, Receiver, wait_until
from webhook_support import receiver as receiver
from webhook_support import wh as wh
from webhook_support import wh_database_url as wh_database_url
from webhook_support import wh_postgresql_url as wh_postgresql_url

OLD = "old-secret-key-aaaaaaaaaaaaaaaa"
NEW = "new-secret-key-bbbbbbbbbbbbbbbb"
OTHER = "other-secret-key-cccccccccccccccc"


def with_keys(settings: Settings, *keys: str) -> Settings:
    return settings.model_copy(update={"secret_keys": [SecretStr(key) for key in keys]})


class Keyed:
    """Portals and workers of one webhook test database, each with its own keys."""

    def __init__(self, wh: PortalMaker) -> None:
        self.wh = wh

    def portal(self, *keys: str) -> ClientPortal:
        portal = ClientPortal(
            with_keys(self.wh.settings(), *keys), plugins=[Directory()], mailer=MemoryMailer()
        )
        portal.create_schema()
        self.wh.portals.append(portal)
        return portal

    def worker(self, *keys: str) -> WebhookWorker:
        worker = WebhookWorker.from_settings(with_keys(self.wh.settings(), *keys))
        self.wh.workers.append(worker)
        return worker


@pytest.fixture
def keyed(wh: PortalMaker) -> Keyed:
    return Keyed(wh)


# -- webhook endpoint secrets ----------------------------------------------------------


def test_rotation_reseals_endpoint_secrets_so_the_old_key_can_go(
    keyed: Keyed, receiver: Receiver
) -> None:
    added = keyed.portal(OLD).add_webhook_endpoint("t1", receiver.url)

    report = keyed.portal(OLD, NEW).rotate_keys()
    newest_only = keyed.portal(NEW)
    newest_only.get_or_create_token("t1", "contact", "1")
    keyed.worker(NEW).run_until_idle()

    assert (report.endpoints_resealed, report.ok) == (1, True)
    (got,) = receiver.snapshot()
    assert verify(got.body, got.headers, added.secret)["type"] == "client_portal.token_created"


def test_an_endpoint_no_key_opens_fails_its_deliveries_loudly_at_once(
    keyed: Keyed, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    added = keyed.portal(OLD).add_webhook_endpoint("t1", receiver.url)
    portal = keyed.portal(OTHER)  # the old key left the list before a rotation
    portal.get_or_create_token("t1", "contact", "1")

    with caplog.at_level(logging.ERROR, logger="client_portal_core.webhooks"):
        keyed.worker(OTHER).run_until_idle()

    assert receiver.snapshot() == []
    (delivery,) = portal.list_webhook_deliveries("t1")
    assert (delivery.status, delivery.attempt_count) == ("failed", 1)
    assert "cannot be unsealed" in (delivery.last_error or "")
    (endpoint,) = portal.list_webhook_endpoints("t1")
    assert (endpoint.enabled, endpoint.seal_status) == (True, UNSEALABLE)
    assert endpoint.seal_error
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"endpoint {added.id}" in line and "unsealed" in line for line in errors)
    assert all(added.secret.removeprefix("whsec_") not in line for line in errors)


def test_once_its_key_is_listed_again_the_endpoint_heals(keyed: Keyed, receiver: Receiver) -> None:
    keyed.portal(OLD).add_webhook_endpoint("t1", receiver.url)
    portal = keyed.portal(OTHER)
    portal.get_or_create_token("t1", "contact", "1")
    keyed.worker(OTHER).run_until_idle()
    (failed,) = portal.list_webhook_deliveries("t1")

    portal.redeliver_webhook("t1", failed.id)
    keyed.worker(OTHER, OLD).run_until_idle()

    wait_until(lambda: len(receiver.snapshot()) == 1)
    (endpoint,) = portal.list_webhook_endpoints("t1")
    assert endpoint.seal_status is None


def test_rotation_reports_and_marks_the_endpoints_it_cannot_open(keyed: Keyed) -> None:
    added = keyed.portal(OLD).add_webhook_endpoint("t1", "http://127.0.0.1:9/hook")
    portal = keyed.portal(OTHER, NEW)

    report = portal.rotate_keys()

    assert not report.ok
    assert report.to_dict()["webhook_endpoints"]["unsealable"] == [
        {"id": added.id, "tenant_id": "t1", "reason": report.unsealable_endpoints[0]["reason"]}
    ]
    assert portal.list_webhook_endpoints("t1")[0].seal_status == UNSEALABLE


# -- portal tokens -------------------------------------------------------------------


def test_rotation_reseals_tokens_and_counts_those_an_old_key_signed(
    make_portal: PortalFactory,
) -> None:
    old = make_portal(secret_keys=[OLD]).get_or_create_token(TENANT_A, "contact", 1)
    both = make_portal(secret_keys=[OLD, NEW])

    report = both.rotate_keys()

    assert (report.tokens_resealed, report.tokens_signed_by_old_key, report.ok) == (1, 1, True)
    again = both.get_or_create_token(TENANT_A, "contact", 1)
    assert again.token == old.token  # links unchanged without --remint-old-links


def test_reminting_gives_old_key_links_a_new_one_signed_by_the_newest_key(
    make_portal: PortalFactory,
) -> None:
    old = make_portal(secret_keys=[OLD]).get_or_create_token(TENANT_A, "contact", 1)
    both = make_portal(secret_keys=[OLD, NEW])

    report = both.rotate_keys(remint_old_links=True)
    issued = both.get_or_create_token(TENANT_A, "contact", 1)

    assert report.tokens_reminted == 1
    assert issued.token != old.token
    assert issued.expires_at == old.expires_at
    assert not issued.created  # get-or-create hands out the re-minted one
    PortalTokenCodec([NEW.encode()]).verify(issued.token)  # the newest key alone verifies it
    assert both.verify_token(old.token).id == old.token_id  # sent links work while OLD is listed
    with pytest.raises(TokenInvalid):
        make_portal(secret_keys=[NEW]).verify_token(old.token)


def test_a_token_no_key_opens_is_marked_and_logged_once_then_replaced(
    make_portal: PortalFactory, caplog: pytest.LogCaptureFixture
) -> None:
    old = make_portal(secret_keys=[OLD]).get_or_create_token(TENANT_A, "contact", 1)
    newest = make_portal(secret_keys=[NEW])

    with caplog.at_level(logging.ERROR, logger="client_portal_core.tokens"):
        issued = newest.get_or_create_token(TENANT_A, "contact", 1)
        newest.get_or_create_token(TENANT_A, "contact", 1)

    assert issued.created
    assert issued.token != old.token
    table = newest.tables.portal_tokens
    with newest.engine.connect() as conn:
        status = conn.execute(
            sa.select(table.c.seal_status, table.c.seal_error).where(table.c.id == old.token_id)
        ).one()
    assert status[0] == UNSEALABLE
    assert status[1]
    logged = [r for r in caplog.records if f"portal token {old.token_id}" in r.getMessage()]
    assert len(logged) == 1


# -- the command ---------------------------------------------------------------------


def test_the_command_prints_the_report_and_fails_on_what_it_cannot_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    migrate.upgrade(url)
    settings = Settings.build(secret_keys=[OLD], database_url=url, load_entry_points=False)
    ClientPortal(settings, plugins=[Directory()]).get_or_create_token("t1", "contact", "1")
    rotate = ["rotate-keys", "--database-url", url, "--secret-key", OLD, "--secret-key", NEW]

    first = main(rotate)
    first_report = json.loads(capsys.readouterr().out)
    after_removal = main(["rotate-keys", "--database-url", url, "--secret-key", OTHER])
    second_report: dict[str, Any] = json.loads(capsys.readouterr().out)

    assert first == 0
    assert first_report["portal_tokens"]["resealed"] == 1
    assert after_removal == 1
    assert len(second_report["portal_tokens"]["unsealable"]) == 1


def test_fingerprints_tell_keys_apart_and_reveal_none(make_portal: PortalFactory) -> None:
    portal = make_portal(secret_keys=[OLD])

    portal.key_fingerprints.record(OLD.encode())
    portal.key_fingerprints.record(OLD.encode())

    (fingerprint,) = portal.key_fingerprints.known()
    assert OLD not in fingerprint
    assert not portal.key_fingerprints.is_foreign(OLD.encode())
    assert portal.key_fingerprints.is_foreign(NEW.encode())
