"""SQL of the tenants' portal configurations."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ._database import Database

__all__ = ["ConfigStore"]


class ConfigStore:
    """Each tenant's configuration, one JSON document per tenant."""

    def __init__(self, db: Database) -> None:
        self.db = db
        t = db.tables.configs
        self._by_tenant = sa.select(t.c.config).where(t.c.tenant_id == sa.bindparam("tenant_id"))

    def load_config(self, tenant_id: str) -> dict[str, Any] | None:
        """The tenant's stored configuration, or ``None`` if it never set one."""
        row = self.db.fast_first(self._by_tenant, {"tenant_id": tenant_id})
        return None if row is None else dict(json.loads(row[0]))

    def save_config(self, tenant_id: str, config: dict[str, Any], at: datetime) -> None:
        """Insert or replace the tenant's configuration."""
        t = self.db.tables.configs
        raw = json.dumps(config, sort_keys=True)
        update = sa.update(t).where(t.c.tenant_id == tenant_id).values(config=raw, updated_at=at)
        try:
            with self.db.write() as conn:
                if not conn.execute(update).rowcount:
                    conn.execute(
                        sa.insert(t).values(tenant_id=tenant_id, config=raw, updated_at=at)
                    )
        except IntegrityError:
            # Another process saved this tenant's first config meanwhile: update it.
            with self.db.write() as conn:
                conn.execute(update)
