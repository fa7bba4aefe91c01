"""The library's schema, built per table prefix on its own ``MetaData``.

Nothing here is SQLite-only: uniqueness of a subject's current token is a
plain unique constraint (``current`` is TRUE for the current token and NULL
for retired ones, and NULLs never collide), which SQLite and PostgreSQL
enforce alike.

Times are stored as naive UTC and handed out as aware UTC
(:class:`UTCDateTime`), so every backend round-trips them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

__all__ = ["Tables", "UTCDateTime", "build_tables"]


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the client portal storage")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Tables:
    """The library's tables for one prefix, on their own ``MetaData``."""

    prefix: str
    metadata: sa.MetaData
    configs: sa.Table
    api_tokens: sa.Table
    portal_tokens: sa.Table
    invitations: sa.Table
    webhook_endpoints: sa.Table
    webhook_messages: sa.Table
    webhook_deliveries: sa.Table
    webhook_attempts: sa.Table
    bulk_jobs: sa.Table
    bulk_job_items: sa.Table
    portal_sessions: sa.Table
    portal_accesses: sa.Table
    key_fingerprints: sa.Table
    portal_previews: sa.Table


_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}


def build_tables(prefix: str = "client_portal_") -> Tables:
    """Build the schema with every table name starting with ``prefix``."""
    md = sa.MetaData(naming_convention=_NAMING)
    tenant = sa.String(64)
    configs = sa.Table(
        f"{prefix}configs",
        md,
        sa.Column("tenant_id", tenant, primary_key=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    api_tokens = sa.Table(
        f"{prefix}api_tokens",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", tenant, nullable=False, index=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        # Space-separated, canonical order (client_portal_core.scopes); tokens
        # made before scopes existed have all three.
        sa.Column("scopes", sa.String(64), nullable=False, server_default="read invite admin"),
    )
    portal_tokens = sa.Table(
        f"{prefix}portal_tokens",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", tenant, nullable=False),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("lookup_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("sealed", sa.Text, nullable=False),
        # TRUE for the subject's current token, NULL once replaced: the unique
        # constraint below then allows one current token per subject.
        sa.Column("current", sa.Boolean, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("last_accessed_at", UTCDateTime, nullable=True),
        sa.Column("access_count", sa.Integer, nullable=False, server_default="0"),
        # The language of the invitation that carried the token: its portal pages'.
        sa.Column("locale", sa.String(35), nullable=True),
        # Set once, when a renewal claims the token (a conditional UPDATE on
        # NULL): a token is renewed, and its renewal mailed, exactly once. The
        # renewed token stays valid by its lookup hash until it expires, while
        # ``current`` moves to the new one.
        sa.Column("renewed_at", UTCDateTime, nullable=True),
        # "unsealable" (with the reason) once no listed key opens ``sealed``;
        # NULL while it opens (see client_portal_core.key_rotation).
        sa.Column("seal_status", sa.String(16), nullable=True),
        sa.Column("seal_error", sa.String(200), nullable=True),
        sa.UniqueConstraint("tenant_id", "subject_type", "subject_id", "current"),
        sa.Index(None, "expires_at"),
    )
    invitations = sa.Table(
        f"{prefix}invitations",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", tenant, nullable=False),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        # The id of the token in whatever store holds it (a token store plugin
        # may keep tokens outside this database): no foreign key.
        sa.Column("portal_token_id", sa.Integer, nullable=False),
        sa.Column("custom_message", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        # The language asked for (None: the tenant's); a retry sends in it again.
        sa.Column("locale", sa.String(35), nullable=True),
        # "invitation", or "renewal" (a new link before the old one expires;
        # previous_expires_at is when the old link stops working).
        sa.Column("kind", sa.String(16), nullable=False, server_default="invitation"),
        sa.Column("previous_expires_at", UTCDateTime, nullable=True),
        sa.Index(None, "tenant_id", "status"),
    )
    webhook_endpoints = sa.Table(
        f"{prefix}webhook_endpoints",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", tenant, nullable=False, index=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("sealed_secret", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        # After a rotation, the old secret (sealed) also signs every delivery
        # until previous_secret_expires_at, so receivers can switch over.
        sa.Column("previous_sealed_secret", sa.Text, nullable=True),
        sa.Column("previous_secret_expires_at", UTCDateTime, nullable=True),
        # "unsealable" (with the reason) once no listed key opens the secret.
        sa.Column("seal_status", sa.String(16), nullable=True),
        sa.Column("seal_error", sa.String(200), nullable=True),
    )
    webhook_messages = sa.Table(
        f"{prefix}webhook_messages",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("msg_id", sa.String(40), nullable=False, unique=True),
        sa.Column("tenant_id", tenant, nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    webhook_deliveries = sa.Table(
        f"{prefix}webhook_deliveries",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "message_id",
            sa.Integer,
            sa.ForeignKey(f"{prefix}webhook_messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "endpoint_id",
            sa.Integer,
            sa.ForeignKey(f"{prefix}webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("tenant_id", tenant, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
        sa.Column("locked_by", sa.String(64), nullable=True),
        sa.Column("locked_until", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Index(None, "status", "next_attempt_at"),
    )
    webhook_attempts = sa.Table(
        f"{prefix}webhook_attempts",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "delivery_id",
            sa.Integer,
            sa.ForeignKey(f"{prefix}webhook_deliveries.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("attempted_at", UTCDateTime, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("response_snippet", sa.Text, nullable=True),
    )
    # Bulk invitation runs (see client_portal_core.bulk): one row per run and
    # one per subject, so an interrupted run resumes without sending twice.
    bulk_jobs = sa.Table(
        f"{prefix}bulk_jobs",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", tenant, nullable=False, index=True),
        sa.Column("custom_message", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        # The run that holds the job (random, per run): see client_portal_core.bulk.
        sa.Column("run_id", sa.String(32), nullable=True),
        # The language of the job's emails (None: each tenant's); a resume keeps it.
        sa.Column("locale", sa.String(35), nullable=True),
    )
    bulk_job_items = sa.Table(
        f"{prefix}bulk_job_items",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "job_id",
            sa.Integer,
            sa.ForeignKey(f"{prefix}bulk_jobs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column(
            "invitation_id",
            sa.Integer,
            sa.ForeignKey(f"{prefix}invitations.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        # The run that claimed the item: its later writes are conditional on it.
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.UniqueConstraint("job_id", "subject_type", "subject_id"),
        sa.Index(None, "job_id", "status"),
    )
    # Signed-in portal browsers. No foreign key to portal_tokens: the token
    # store may live elsewhere (a plugin); every request looks the token up
    # through it, so a session never outlives its token.
    portal_sessions = sa.Table(
        f"{prefix}portal_sessions",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        # SHA-256 of the random session id; the id itself is only in the cookie.
        sa.Column("id_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("tenant_id", tenant, nullable=False),
        # NULL only for a staff preview of a subject that has no portal token.
        sa.Column("token_id", sa.Integer, nullable=True),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False, index=True),
        # Set for a staff preview's session (read-only, counted apart): its preview.
        sa.Column("preview_id", sa.Integer, nullable=True, index=True),
        sa.Index(None, "tenant_id", "token_id"),
    )
    # One row per counted visit of a portal link, and per opening of a staff preview.
    portal_accesses = sa.Table(
        f"{prefix}portal_accesses",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", tenant, nullable=False),
        # NULL only for a staff preview of a subject that has no portal token.
        sa.Column("token_id", sa.Integer, nullable=True),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("accessed_at", UTCDateTime, nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("preview", sa.Boolean, nullable=False, server_default=sa.false()),
        # The token_accessed event the row was written from: publishing an
        # event again (a plugin store after a crash) logs no second visit.
        sa.Column("event_id", sa.String(40), nullable=True, unique=True),
        sa.Index(None, "tenant_id", "subject_type", "subject_id", "id"),
        sa.Index(None, "tenant_id", "id"),
    )
    # Fingerprints (HMAC of a constant) of the keys processes signed with, so
    # a command run with another key can tell it is not this database's.
    key_fingerprints = sa.Table(
        f"{prefix}key_fingerprints",
        md,
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("last_seen_at", UTCDateTime, nullable=False),
    )
    # Staff preview links (POST /token/preview): a link is a signature of a
    # random id whose SHA-256 alone is stored here; it opens read-only preview
    # sessions until expires_at (15 minutes at most) or until ended_at (the
    # subject's tokens were revoked).
    portal_previews = sa.Table(
        f"{prefix}portal_previews",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("link_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("tenant_id", tenant, nullable=False),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        # The subject's newest active token when the preview was made (its
        # language, and the token named in the access log), if it had one.
        sa.Column("token_id", sa.Integer, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False, index=True),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.Index(None, "tenant_id", "subject_type", "subject_id"),
    )
    return Tables(
        prefix=prefix,
        metadata=md,
        configs=configs,
        api_tokens=api_tokens,
        portal_tokens=portal_tokens,
        invitations=invitations,
        webhook_endpoints=webhook_endpoints,
        webhook_messages=webhook_messages,
        webhook_deliveries=webhook_deliveries,
        webhook_attempts=webhook_attempts,
        bulk_jobs=bulk_jobs,
        bulk_job_items=bulk_job_items,
        portal_sessions=portal_sessions,
        portal_accesses=portal_accesses,
        key_fingerprints=key_fingerprints,
        portal_previews=portal_previews,
    )
