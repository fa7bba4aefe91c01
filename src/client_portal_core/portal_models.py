"""What the portal shows and who it shows it to: :class:`PortalItem`, :class:`PortalClient`.

Plain values shared by the portal's capabilities (sessions, content, pages)
and by the host's plugins, so none of those modules imports another for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from .schemas import Recipient, SubjectType

__all__ = ["ActivityEntry", "PortalClient", "PortalItem", "PortalSection"]


@dataclass(frozen=True, slots=True)
class PortalItem:
    """One thing of the host's shown to a client in the portal (an invoice, a task...).

    Everything is shown as text (escaped); nothing here is trusted as markup.

    :param title: required, shown as the item's heading (first 200 characters).
    :param status: a short state ("Paid", "Open"...).
    :param amount: a ``Decimal`` (or a string, shown as given) with ``currency``.
    :param currency: ISO 4217 code or symbol shown after the amount ("EUR").
    :param date: a ``date`` or an aware ``datetime`` (due date, sent date...).
    :param detail: one short line of detail (first 500 characters).
    :param url: a link to the host's own page for the item: an absolute
        ``http(s)://`` URL or a path starting with ``/``. Anything else
        (``javascript:``, ``data:``, relative paths) is shown without a link.
    """

    title: str
    status: str | None = None
    amount: Decimal | str | None = None
    currency: str | None = None
    date: date | datetime | None = None
    detail: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class PortalClient:
    """The client signed in to the portal (the session of one browser).

    :param tenant_id: the tenant whose portal it is.
    :param subject_type: a contact or a company of the host.
    :param subject_id: the host's id of it.
    :param recipient: what the directory says of it now (name, email).
    :param token_id: the portal token the session was opened with (for a staff
        preview: the subject's token when the preview was made, ``None`` when it
        had none).
    :param expires_at: when that token expires (aware UTC); the session ends
        then at the latest. For a staff preview: when the preview ends.
    :param session_expires_at: when the session ends at the latest (its own maximum age).
    :param csrf_token: the value a state-changing portal form must post as
        ``csrf_token`` (the sign-out form, say); tied to this session.
    :param locale: the language remembered with the token (its invitation's),
        or ``None``; pages fall back to the tenant's, then the browser's.
    :param preview: True for a staff preview (``POST /token/preview``): someone
        of the host's staff sees the portal as this client would, read-only.
        Host pages should show, never change, anything for such a session:
        refuse their own state-changing requests when it is set.
    """

    tenant_id: str
    subject_type: SubjectType
    subject_id: str
    recipient: Recipient
    token_id: int | None
    expires_at: datetime
    session_expires_at: datetime
    csrf_token: str = field(repr=False)
    locale: str | None = None
    preview: bool = False


@dataclass(frozen=True, slots=True)
class ActivityEntry:
    """One line of a client's activity feed.

    :param kind: ``invitation`` (an invitation email was sent to ``text``, a
        masked address), ``visit`` (the client opened the portal) or ``host``
        (an entry of the host's hook: ``text`` is its title).
    :param at: when it happened (``None``: unknown, listed last).
    """

    kind: str
    at: datetime | date | None
    text: str = ""
    detail: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class PortalSection:
    """A module of the portal as a page shows it: its name, title and items.

    :param failed: True when the host's hook raised: the page says the items
        cannot be shown right now instead of "nothing here".
    """

    module: str
    title: str
    items: tuple[PortalItem, ...]
    failed: bool = False
