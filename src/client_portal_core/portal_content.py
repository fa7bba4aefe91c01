"""What a signed-in client sees: the host's items per module, files, and activity.

Items come from the ``client_portal_portal_items`` hook and are never trusted:
text is cut to size (and escaped by the templates), links that are not
``http(s)://`` URLs or absolute paths are dropped, and a hook that raises
turns into "cannot be shown right now", never into an error page.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from .portal_models import ActivityEntry, PortalClient, PortalItem, PortalSection
from .schemas import PortalConfig
from .storage import AccessStore

__all__ = ["ACTIVITY", "FILES", "PortalContent", "mask_email", "safe_url"]

logger = logging.getLogger("client_portal_core.portal")

#: The module name of the files section (``allow_file_sharing``).
FILES = "files"
#: The module name of the activity feed (``show_activity_feed``).
ACTIVITY = "activity"

_TITLE, _STATUS, _DETAIL, _AMOUNT, _CURRENCY, _URL = 200, 40, 500, 40, 8, 2048
_UNSAFE_URL = re.compile(r"[\x00-\x20\x7f\\\"'<>`]")


def safe_url(url: object) -> str | None:
    """``url`` when it is an ``http(s)://`` URL with a host or a path starting
    with ``/`` (not ``//``), else ``None``. Whitespace, controls, quotes,
    angle brackets and backslashes are refused: browsers read those in
    surprising ways (the templates escape whatever is shown anyway)."""
    if not isinstance(url, str) or not url or len(url) > _URL or _UNSAFE_URL.search(url):
        return None
    if url.startswith("/"):
        return None if url.startswith("//") else url
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def mask_email(address: str) -> str:
    """``alice@example.com`` -> ``a•••@example.com`` (the domain stays readable)."""
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return "•••"
    return f"{local[0]}•••@{domain}"


def _text(value: object, limit: int) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text[:limit] or None


def _amount(value: object) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal | int):
        try:
            return f"{Decimal(value):,.2f}"
        except (InvalidOperation, ValueError):
            return None
    return _text(value, _AMOUNT)


def _moment(value: object) -> date | datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value if isinstance(value, date) else None


def _clean(item: object) -> PortalItem | None:
    """A shown copy of one of the hook's items; ``None`` for anything unusable."""
    if not isinstance(item, PortalItem):
        return None
    title = _text(item.title, _TITLE)
    if title is None:
        return None
    return PortalItem(
        title=title,
        status=_text(item.status, _STATUS),
        amount=_amount(item.amount),
        currency=_text(item.currency, _CURRENCY) if item.amount is not None else None,
        date=_moment(item.date),
        detail=_text(item.detail, _DETAIL),
        url=safe_url(item.url),
    )


def _newest_first(entry: ActivityEntry) -> tuple[int, float]:
    at = entry.at
    if at is None:
        return (1, 0.0)
    if not isinstance(at, datetime):
        at = datetime(at.year, at.month, at.day, tzinfo=UTC)
    return (0, -at.timestamp())


class PortalContent:
    """Asks the host for a client's items, and the library for its activity.

    :param hook: the portal's ``plugin_manager.hook``.
    :param accesses: the access log and invitation records (the activity feed).
    :param max_items: at most this many items per module page.
    """

    def __init__(self, hook: Any, accesses: AccessStore, *, max_items: int = 200) -> None:
        self._hook = hook
        self.accesses = accesses
        self.max_items = max_items

    @staticmethod
    def modules(config: PortalConfig) -> list[str]:
        """The module pages a tenant's clients have, in the tenant's order.

        ``files`` is a section of its own (:meth:`has_files`), not one of them.
        """
        return [module for module in config.enabled_modules if module != FILES]

    @staticmethod
    def has_files(config: PortalConfig) -> bool:
        """Whether the tenant's clients have the files section."""
        return config.allow_file_sharing or FILES in config.enabled_modules

    def page_exists(self, config: PortalConfig, name: str) -> bool:
        """Whether ``{portal_path}/{name}`` is one of this tenant's pages."""
        if name == FILES:
            return self.has_files(config)
        if name == ACTIVITY:
            return config.show_activity_feed
        return name in self.modules(config)

    def section(self, client: PortalClient, module: str) -> PortalSection:
        """The host's items of one module for the signed-in client."""
        try:
            found = self._hook.client_portal_portal_items(
                tenant_id=client.tenant_id,
                subject_type=client.subject_type,
                subject_id=client.subject_id,
                module=module,
            )
        except Exception:
            logger.exception("client_portal_portal_items raised for module %r", module)
            return PortalSection(module, module, (), failed=True)
        if found is None:
            return PortalSection(module, module, ())
        if not isinstance(found, list | tuple):
            logger.error("client_portal_portal_items returned %s, not a list", type(found))
            return PortalSection(module, module, (), failed=True)
        items = [cleaned for item in found if (cleaned := _clean(item)) is not None]
        if len(items) < len(found):
            logger.warning("dropped %d unusable portal items", len(found) - len(items))
        return PortalSection(module, module, tuple(items[: self.max_items]))

    def activity(self, client: PortalClient, limit: int = 20) -> tuple[list[ActivityEntry], bool]:
        """The client's recent activity, newest first, and whether the host's part failed.

        Invitations sent to the client and its visits come from the library's
        records; the host adds entries through the hook's ``activity`` module.
        """
        kind, subject = client.subject_type.value, client.subject_id
        entries = [
            ActivityEntry("invitation", at, mask_email(email))
            for status, email, at in self.accesses.invitations_of_subject(
                client.tenant_id, kind, subject, limit
            )
            if status == "sent"
        ]
        entries += [
            ActivityEntry("visit", access.accessed_at)
            for access in self.accesses.list_accesses(
                client.tenant_id, subject_type=kind, subject_id=subject, preview=False, limit=limit
            )
        ]
        hosted = self.section(client, ACTIVITY)
        entries += [
            ActivityEntry("host", item.date, item.title, item.detail, item.url)
            for item in hosted.items
        ]
        entries.sort(key=_newest_first)
        return entries[:limit], hosted.failed
