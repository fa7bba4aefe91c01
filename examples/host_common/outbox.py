"""Where ``serve --demo`` writes the emails it would send (``--outbox``).

Without ``--smtp-url``, a demo server writes every email as ``.eml`` (the
whole message, as SMTP would carry it) and ``.html`` files, and prints their
paths, so a newcomer can open the real email in a mail client or a browser.
"""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa

from client_portal_core import OutboxDirectoryMailer

__all__ = ["DEFAULT_OUTBOX", "demo_outbox_folder", "outbox_mailer"]

#: The outbox of a demo whose database is not a SQLite file (``make demo``'s place).
DEFAULT_OUTBOX = Path("demo-data") / "outbox"


def demo_outbox_folder(database_url: str) -> Path:
    """``outbox/`` beside a SQLite database file (``demo-data/outbox`` for ``make demo``),
    else :data:`DEFAULT_OUTBOX` under the working directory."""
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database)).resolve().parent / "outbox"
    return DEFAULT_OUTBOX


def outbox_mailer(folder: Path) -> OutboxDirectoryMailer:
    """A mailer that writes into ``folder`` and prints each email's paths on stdout."""
    return OutboxDirectoryMailer(folder, stream=sys.stdout)
