"""Renewal before expiry: a new link, mailed before the current one stops working.

For each subject whose current token expires within N days and has not been
renewed, :meth:`Renewals.renew_expiring` mints a successor token (it becomes
current; the old link keeps working until it expires) and mails a renewal
invitation saying when the old link stops. Each token is claimed with a
conditional update before its successor is minted, so it is renewed and
mailed exactly once, even by two runs at the same moment, in one process or
two (see :meth:`~client_portal_core.storage.TokenStore.renew_token`).

A subject the directory no longer has, or that has no email address, is
reported and left unclaimed (the next run reports it again). A renewal whose
email fails is reported and recorded ``failed``: its token is renewed, and
the invitation can be retried (``POST /invitations/{id}/retry``). When the
mail server cannot be reached at all, the run stops there and the tokens it
did not reach wait for the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .directory import Directory
from .errors import InvitationFailed, MailServerUnavailable, RecipientHasNoEmail, SubjectNotFound
from .invitations import Invitations
from .mail import ConnectionReusingMailer
from .portal_tokens import PortalTokens
from .schemas import SubjectType
from .storage import StoredPortalToken, TokenQuery

__all__ = ["RenewalFailure", "RenewalReport", "Renewals"]

#: Tokens read per query while looking for renewal candidates.
_BATCH = 100


@dataclass(frozen=True, slots=True)
class RenewalFailure:
    """A subject whose renewal was not sent, and why."""

    tenant_id: str
    subject_type: str
    subject_id: str
    error: str


@dataclass(slots=True)
class RenewalReport:
    """What one renewal run did: how many renewals it sent, and its failures."""

    renewed: int = 0
    failed: list[RenewalFailure] = field(default_factory=list)


class Renewals:
    """Renews tokens before they expire and mails the new links.

    :param tokens: the portal tokens.
    :param invitations: records and sends the renewal emails.
    :param directory: the host's contacts and companies.
    :param clock: the portal's clock.
    """

    def __init__(
        self,
        tokens: PortalTokens,
        invitations: Invitations,
        *,
        directory: Directory,
        clock: Callable[[], datetime],
    ) -> None:
        self.tokens = tokens
        self.invitations = invitations
        self.directory = directory
        self.clock = clock

    def renew_expiring(self, within_days: int, tenant_id: str | None = None) -> RenewalReport:
        """Renew every current token expiring within ``within_days`` days, once each.

        :param tenant_id: one tenant's tokens; ``None`` for every tenant (cron).
        :raises ValueError: ``within_days`` is not 1..365.
        """
        if not 1 <= within_days <= 365:
            raise ValueError("within_days must be 1 to 365")
        report = RenewalReport()
        with self._mail_session():
            for row in self._candidates(within_days, tenant_id):
                if not self._renew_one(row, report):
                    break
        return report

    def _candidates(self, within_days: int, tenant_id: str | None) -> Iterator[StoredPortalToken]:
        now = self.clock()
        before_id: int | None = None
        while True:
            rows = self.tokens.list_tokens(
                TokenQuery(
                    now=now,
                    tenant_id=tenant_id,
                    expiring_before=now + timedelta(days=within_days),
                    renewable=True,
                    before_id=before_id,
                    limit=_BATCH,
                )
            )
            yield from rows
            if len(rows) < _BATCH:
                return
            before_id = rows[-1].id

    def _renew_one(self, row: StoredPortalToken, report: RenewalReport) -> bool:
        """Renew and mail one token; False when the run must stop (mail server down)."""
        kind = SubjectType(row.subject_type)
        try:
            recipient = self.directory.require(row.tenant_id, kind, row.subject_id)
            if not recipient.email:
                raise RecipientHasNoEmail(kind.value, recipient.id)
        except (SubjectNotFound, RecipientHasNoEmail) as exc:
            report.failed.append(self._failure(row, exc.message))
            return True
        issued = self.tokens.renew(row)
        if issued is None:
            return True  # another run renewed it first: its email is that run's
        record = self.invitations.record_renewal(
            row.tenant_id, recipient, kind, issued, row.expires_at
        )
        try:
            self.invitations.deliver(record, recipient, issued)
        except InvitationFailed as exc:
            report.failed.append(self._failure(row, exc.reason))
            return not isinstance(exc.__cause__, MailServerUnavailable)
        report.renewed += 1
        return True

    @staticmethod
    def _failure(row: StoredPortalToken, error: str) -> RenewalFailure:
        return RenewalFailure(row.tenant_id, row.subject_type, row.subject_id, error)

    @contextmanager
    def _mail_session(self) -> Iterator[None]:
        """One mail connection for the whole run when the mailer offers it."""
        mailer = self.invitations.mailer
        if isinstance(mailer, ConnectionReusingMailer):
            with mailer.connection():
                yield
        else:
            yield
