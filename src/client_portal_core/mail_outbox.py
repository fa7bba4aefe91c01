"""A mailer that writes emails into a folder instead of sending them (demos, development)."""

from __future__ import annotations

import logging
import os
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from .errors import MailDeliveryError
from .mail import OutgoingEmail, build_message, wire_bytes

__all__ = ["OutboxDirectoryMailer"]

logger = logging.getLogger("client_portal_core.mail")

_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OutboxDirectoryMailer:
    """Writes each email into a folder instead of sending it; for demos and development.

    Every email becomes two files with one name: ``.eml``, the whole RFC 5322
    message exactly as :class:`SMTPMailer` would hand it to a server (any
    mail client opens it), and ``.html``, its HTML part, to open in a browser.
    Names start with the UTC time, so the folder lists in sending order.

    :param folder: where to write; created when missing.
    :param stream: where to print each email's recipient, subject and paths;
        ``None`` prints nothing.
    """

    def __init__(self, folder: str | os.PathLike[str], *, stream: TextIO | None = None) -> None:
        self.folder = Path(folder)
        self._stream = stream
        self._lock = threading.Lock()
        #: The ``.eml`` files written so far, oldest first.
        self.written: list[Path] = []

    def send(self, email: OutgoingEmail) -> None:
        """Write the email's ``.eml`` and ``.html`` files.

        :raises MailDeliveryError: the folder cannot be written, or a header is invalid.
        """
        data = wire_bytes(build_message(email))
        recipient = _FILE_UNSAFE.sub("_", email.to.replace("@", "-at-"))[:60] or "unknown"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        with self._lock:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                eml = self._claim(f"{stamp}-{recipient}")
                eml.write_bytes(data)
                html = eml.with_suffix(".html")
                html.write_text(email.html, encoding="utf-8")
            except OSError as exc:
                logger.warning("cannot write the email to %s: %s", self.folder, exc)
                raise MailDeliveryError("the outbox folder cannot be written") from exc
            self.written.append(eml)
            if self._stream is not None:
                self._stream.write(f"email to {email.to}: {email.subject}\n  {eml}\n  {html}\n")
                self._stream.flush()

    def _claim(self, stem: str) -> Path:
        """A new ``.eml`` path (created empty, so two processes never share one)."""
        for attempt in range(1, 1000):
            path = self.folder / (stem if attempt == 1 else f"{stem}-{attempt}")
            eml = path.with_name(path.name + ".eml")
            try:
                eml.touch(exist_ok=False)
            except FileExistsError:
                continue
            return eml
        raise OSError(f"no free file name for {stem}")
