"""Portals for tests: a temporary SQLite file, a memory mailer, an in-memory directory."""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..hooks import hookimpl
from ..mail import Mailer, MemoryMailer
from ..schemas import Recipient, SubjectType, utc_now
from ..services import ClientPortal
from ..settings import Settings

__all__ = [
    "TEST_SECRET_KEY",
    "MemoryDirectory",
    "make_test_portal",
    "outbox_events",
]

#: The secret key of test portals (never use it anywhere else).
TEST_SECRET_KEY = "client-portal-testing-key-0123456789"


class MemoryDirectory:
    """A host directory in memory: ``client_portal_find_recipient`` and
    ``client_portal_list_subjects`` over what :meth:`add` put in.

    Starts with tenant ``tenant-a``: contact ``1`` (``ann@example.com``),
    contact ``2`` (no email) and company ``10`` (``billing@acme.example``);
    tenant ``tenant-b``: contact ``3`` (``dan@example.org``). Pass
    ``seed=False`` for an empty one. Thread-safe.
    """

    def __init__(self, *, seed: bool = True) -> None:
        self._lock = threading.Lock()
        self._subjects: dict[tuple[str, str, str], Recipient] = {}
        if seed:
            self.add("tenant-a", "contact", "1", "Ann Archer", "ann@example.com")
            self.add("tenant-a", "contact", "2", "Bob Noemail", None)
            self.add("tenant-a", "company", "10", "Acme Ltd", "billing@acme.example")
            self.add("tenant-b", "contact", "3", "Dan Other", "dan@example.org")

    def add(
        self,
        tenant_id: str,
        subject_type: SubjectType | str,
        subject_id: str,
        name: str,
        email: str | None,
    ) -> Recipient:
        """Add (or replace) a contact or company of a tenant."""
        recipient = Recipient(subject_id, name, email)
        with self._lock:
            self._subjects[(tenant_id, SubjectType(subject_type).value, subject_id)] = recipient
        return recipient

    def remove(self, tenant_id: str, subject_type: SubjectType | str, subject_id: str) -> None:
        """Delete a subject, as a host deleting a contact would."""
        with self._lock:
            self._subjects.pop((tenant_id, SubjectType(subject_type).value, subject_id), None)

    @hookimpl
    def client_portal_find_recipient(
        self, tenant_id: str, subject_type: SubjectType, subject_id: str
    ) -> Recipient | None:
        """The subject, within its tenant only."""
        with self._lock:
            return self._subjects.get((tenant_id, SubjectType(subject_type).value, subject_id))

    @hookimpl
    def client_portal_list_subjects(self, tenant_id: str, subject_type: SubjectType) -> list[str]:
        """Every id of the tenant's subjects of that type."""
        kind = SubjectType(subject_type).value
        with self._lock:
            return [key[2] for key in self._subjects if key[0] == tenant_id and key[1] == kind]


def make_test_portal(
    database_url: str | None = None,
    *,
    mailer: Mailer | None = None,
    directory: object | None = None,
    plugins: Iterable[object] = (),
    clock: Callable[[], datetime] = utc_now,
    use_mailer_hook: bool = False,
    plugin_settings: Mapping[str, Mapping[str, Any]] | None = None,
    **settings: Any,
) -> ClientPortal:
    """A portal with its tables, for tests.

    :param database_url: default: a new SQLite file in a temporary folder.
    :param mailer: default: a :class:`MemoryMailer` (``portal.mailer.outbox``).
    :param use_mailer_hook: ignore ``mailer`` and let the ``client_portal_mailer``
        hook choose, as in production (a mailer plugin under test).
    :param directory: default: a fresh :class:`MemoryDirectory`.
    :param plugins: more plugins, registered after the directory.
    :param plugin_settings: each plugin's own settings (``Settings.plugins``),
        e.g. ``{"http_mailer": {"api_url": ...}}``.
    :param settings: any other :class:`Settings` field; the defaults here load no
        entry points, allow webhook URLs on loopback and use a test key.

    Dispose of it with ``portal.engine.dispose()`` when done.
    """
    if database_url is None:
        folder = Path(tempfile.mkdtemp(prefix="client-portal-test-"))
        database_url = f"sqlite:///{folder / 'portal.db'}"
    if plugin_settings is not None:
        settings["plugins"] = {name: dict(values) for name, values in plugin_settings.items()}
    settings.setdefault("secret_keys", [TEST_SECRET_KEY])
    settings.setdefault("database_url", database_url)
    settings.setdefault("public_url", "https://portal.example.test")
    settings.setdefault("load_entry_points", False)
    settings.setdefault("webhook_allow_private_urls", True)
    portal = ClientPortal(
        Settings.build(**settings),
        plugins=(directory if directory is not None else MemoryDirectory(), *plugins),
        clock=clock,
        mailer=None if use_mailer_hook else (mailer or MemoryMailer()),
    )
    portal.create_schema()
    return portal


def outbox_events(portal: ClientPortal, tenant_id: str) -> list[tuple[str, dict[str, Any]]]:
    """``(type, data)`` of each message in the tenant's webhook outbox, oldest first.

    Only events some enabled endpoint of the tenant subscribes to are written
    there: add one first (``portal.add_webhook_endpoint``).
    """
    messages = portal.tables.webhook_messages
    with portal.engine.connect() as conn:
        rows = conn.execute(
            sa.select(messages.c.event_type, messages.c.payload)
            .where(messages.c.tenant_id == tenant_id)
            .order_by(messages.c.id)
        ).all()
    return [(row.event_type, json.loads(row.payload)["data"]) for row in rows]
