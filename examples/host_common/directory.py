"""The host's directory plugin: how the library finds contacts and companies."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from client_portal_core import Recipient, SubjectType, hookimpl

from .db import companies, contacts

__all__ = ["HostDirectory", "parse_host_id"]

# Plain ASCII digits only: int() would also accept " 7", "+7", "1_0" and
# other scripts' digits, which are not the ids this host hands out.
_ID_PATTERN = re.compile(r"[0-9]{1,10}")
# The ids are SQL INTEGER columns; a larger number would be a database error
# on PostgreSQL instead of a clean "not found".
_MAX_ID = 2**31 - 1


def parse_host_id(value: str) -> int | None:
    """The integer id in ``value``, or None when it is not one this host could have issued."""
    if not _ID_PATTERN.fullmatch(value):
        return None
    number = int(value)
    return number if 0 < number <= _MAX_ID else None


class HostDirectory:
    """Implements ``client_portal_find_recipient`` and ``client_portal_list_subjects``
    over the host's own tables.

    A lookup is always scoped to the tenant of the API token, so one
    tenant can never invite or mint tokens for another tenant's contacts.

    :param engine: the host's database.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Built once: the lookup runs on every token and invite request, and
        # SQLAlchemy reuses a prebuilt statement's compiled form.
        self._lookup = {
            kind: sa.select(table.c.id, table.c.name, table.c.email).where(
                table.c.id == sa.bindparam("id"), table.c.tenant_id == sa.bindparam("tenant")
            )
            for kind, table in ((SubjectType.CONTACT, contacts), (SubjectType.COMPANY, companies))
        }

    @hookimpl
    def client_portal_find_recipient(
        self, tenant_id: str, subject_type: SubjectType, subject_id: str
    ) -> Recipient | None:
        """The tenant's contact or company with this id, or None."""
        tenant = parse_host_id(tenant_id)
        subject = parse_host_id(subject_id)
        if tenant is None or subject is None:
            return None
        with self._engine.connect() as conn:
            row = conn.execute(
                self._lookup[subject_type], {"id": subject, "tenant": tenant}
            ).first()
        if row is None:
            return None
        return Recipient(id=str(row.id), name=row.name, email=row.email or None)

    @hookimpl
    def client_portal_list_subjects(self, tenant_id: str, subject_type: SubjectType) -> list[str]:
        """The ids of all of the tenant's contacts or companies (with or without an email)."""
        tenant = parse_host_id(tenant_id)
        if tenant is None:
            return []  # not a tenant this host could have: it has no subjects
        table = contacts if subject_type == SubjectType.CONTACT else companies
        query = sa.select(table.c.id).where(table.c.tenant_id == tenant).order_by(table.c.id)
        with self._engine.connect() as conn:
            return [str(subject_id) for subject_id in conn.execute(query).scalars()]
