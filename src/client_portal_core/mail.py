"""Mail: the :class:`Mailer` port and its SMTP, console and in-memory implementations.

A mailer sends one :class:`OutgoingEmail` and raises
:class:`~client_portal_core.errors.MailDeliveryError` with a short, safe
reason when it cannot. The SMTP mailer uses only the standard library.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from typing import TYPE_CHECKING, Protocol, TextIO, runtime_checkable
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import (
    ConfigurationError,
    MailDeliveryError,
    MailDeliveryUncertain,
    MailServerUnavailable,
)

__all__ = [
    "FALLBACK_MESSAGE_ID_DOMAIN",
    "ConnectionReusingMailer",
    "ConsoleMailer",
    "Mailer",
    "MemoryMailer",
    "OutgoingEmail",
    "SMTPMailer",
    "build_message",
    "format_sender",
    "message_id_domain",
    "wire_bytes",
]

if TYPE_CHECKING:
    from typing_extensions import Buffer

logger = logging.getLogger("client_portal_core.mail")


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """A multipart (text + HTML) email ready to send.

    :param to: the recipient's address.
    :param subject: the subject line (plain text, any script).
    :param text: the plain-text part.
    :param html: the HTML part.
    :param sender: the From header as people write it: ``"Acme, Inc." <no-reply@acme.example>``
        (the display name may use any script; :func:`build_message` encodes it).
    :param reply_to: the Reply-To address, or ``None`` for none.
    :param headers: more headers (``Auto-Submitted``...); they replace the
        defaults :func:`build_message` writes (``Date``, ``Message-ID``).

    Mailers that build their own message (an HTTP mail API, say) read the
    fields they know; ``reply_to`` and ``headers`` have defaults, so mailers
    written before them keep working.
    """

    to: str
    subject: str
    text: str = field(repr=False)  # the bodies carry the portal link
    html: str = field(repr=False)
    sender: str
    reply_to: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Mailer(Protocol):
    """Sends emails. Implementations must be safe to call from several threads."""

    def send(self, email: OutgoingEmail) -> None:
        """Send one email.

        :raises MailDeliveryError: the email was not accepted; ``reason`` is
            shown to the API caller, so keep secrets out of it. Raise the
            subclass :class:`~client_portal_core.errors.MailServerUnavailable`
            when the server itself is out of reach (a bulk run then stops and
            can be resumed), and :class:`~client_portal_core.errors.MailDeliveryUncertain`
            when the email may have left (a bulk run then never resends it).
        """
        ...


@runtime_checkable
class ConnectionReusingMailer(Mailer, Protocol):
    """An optional ability of a mailer: one connection for many sends.

    Bulk invitations open ``with mailer.connection():`` around their run
    when the mailer has this method (:class:`SMTPMailer` does), so the
    emails of the run share one connection instead of one each.
    """

    def connection(self) -> AbstractContextManager[None]:
        """Keep one connection open for every :meth:`send` of this thread in the block.

        :raises MailServerUnavailable: the connection could not be opened.
        """
        ...


#: A longer word in a plain subject could not be folded within 78 columns.
_LONGEST_PLAIN_WORD = 60
#: Headers folded at 76 characters: a continuation line is a space and an
#: encoded word, which RFC 2047 limits to 75 characters (at 78 Python's
#: folding makes words of 76).
_POLICY = compat32.clone(max_line_length=76)


#: The Message-ID domain when the sender's own is no use (``localhost``, none).
FALLBACK_MESSAGE_ID_DOMAIN = "client-portal.invalid"
_DOMAIN = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")
_HEADER_NAME = re.compile(r"[!-9;-~]{1,76}")  # printable ASCII but ":" (RFC 5322 ftext)


def format_sender(display_name: str, address: str) -> str:
    """A From value as people write it, ``"Acme, Inc." <no-reply@acme.example>``.

    The name's whitespace (line breaks included) is collapsed, and quotes,
    commas and other specials are quoted, so no name adds a header or a
    second address; :func:`build_message` encodes any non-ASCII.
    """
    name = " ".join(display_name.split())
    return str(Address(display_name=name, addr_spec=address))


def message_id_domain(sender: str) -> str:
    """The domain of the sender's address when it is a real one, else
    :data:`FALLBACK_MESSAGE_ID_DOMAIN`: Message-IDs are then unique *and*
    attributable to the sending domain."""
    domain = parseaddr(sender)[1].rpartition("@")[2].strip().lower()
    return domain if _DOMAIN.fullmatch(domain) else FALLBACK_MESSAGE_ID_DOMAIN


def build_message(email: OutgoingEmail) -> Message:
    """The RFC 5322 message for ``email``: text part plus an HTML alternative.

    Writes ``Subject``, ``From`` (the sender's display name encoded when it
    is not ASCII), ``To``, ``Reply-To`` when set, ``Date``, ``Message-ID``
    (on the sender's domain), then ``email.headers``, which replace any of
    those of the same name.

    Built with the ``compat32`` MIME classes: for a message whose parts we
    write ourselves they produce the same wire format as ``EmailMessage``
    at a fraction of the header-parsing cost, which matters in bulk runs.

    :raises MailDeliveryError: an address, the subject or a header would inject headers.
    """
    extra = dict(email.headers)
    values = [email.to, email.sender, email.subject, email.reply_to or "", *extra.values()]
    if any("\r" in value or "\n" in value for value in values):
        raise MailDeliveryError("invalid email header (line break in an address or subject)")
    if not all(_HEADER_NAME.fullmatch(name) for name in extra):
        raise MailDeliveryError("invalid email header name")
    message = MIMEMultipart("alternative", policy=_POLICY)
    # compat32 messages take a Header as a value; typeshed only lists str.
    message["Subject"] = _subject(email.subject)  # type: ignore[assignment]
    message["From"] = _address_header(email.sender, "From")
    message["To"] = _address_header(email.to, "To")
    if email.reply_to:
        message["Reply-To"] = _address_header(email.reply_to, "Reply-To")
    # "+0000" (UTC), not formatdate's "-0000", which means "zone unknown".
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=message_id_domain(email.sender))
    for name, value in extra.items():
        del message[name]
        message[name] = value
    message.attach(MIMEText(email.text, "plain", "utf-8"))
    message.attach(MIMEText(email.html, "html", "utf-8"))
    return message


def wire_bytes(message: Message) -> bytes:
    """``message`` as an SMTP client hands it over: CRLF line ends, no ``Bcc``.

    (Without the transport's dot-stuffing, so the bytes are a valid ``.eml`` file.)
    """
    for name in ("Bcc", "Resent-Bcc"):
        del message[name]
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def _address_header(value: str, header_name: str) -> str:
    """One address with its display name, encoded when it is not plain ASCII.

    A name that is not printable ASCII in words that fold cleanly (other
    scripts, words too long for a line, text that reads as an encoded word)
    is written as encoded words short enough for a line of their own (RFC
    2047's 75 characters), separated by spaces where the generator folds.
    A string, not a :class:`Header`: ``smtplib`` reads the addresses.
    """
    name, address = parseaddr(value)
    if not name or _is_plain(name):
        return formataddr((name, address))
    words = Header(name, "utf-8", header_name=header_name).encode(
        linesep="", maxlinelen=_POLICY.max_line_length
    )
    return f"{words} <{address}>"


def _is_plain(text: str) -> bool:
    """Printable ASCII in words that fold within a line, not like an encoded word."""
    return (
        text.isascii()
        and text.isprintable()
        and "=?" not in text
        and max(map(len, text.split()), default=0) <= _LONGEST_PLAIN_WORD
    )


def _subject(subject: str) -> str | Header:
    # Printable ASCII in words that fold cleanly goes as it is (what mail
    # clients and spam filters expect). Anything else is encoded: other
    # scripts, control characters (compat32 would break lines at some),
    # words too long to fold within a line, and text that would read as an
    # encoded word.
    # A Header object (not its encoded text) lets the generator fold the
    # encoded words around the "Subject: " prefix.
    return subject if _is_plain(subject) else Header(subject, "utf-8", header_name="Subject")


class SMTPMailer:
    """Sends through an SMTP server with :mod:`smtplib`.

    :param host: server name.
    :param port: server port.
    :param security: ``"none"``, ``"starttls"`` or ``"ssl"`` (implicit TLS).
    :param username: login name, if the server wants one.
    :param password: login password.
    :param timeout: seconds for connecting and for each command.
    :param ssl_context: TLS settings; the default verifies certificates.
    """

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        security: str = "none",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in ("none", "starttls", "ssl"):
            raise ConfigurationError(
                f"SMTP security must be none, starttls or ssl, not {security!r}"
            )
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._local = threading.local()

    @classmethod
    def from_url(cls, url: str) -> SMTPMailer:
        """Build from ``smtp://[user:pass@]host[:port][?starttls=true&timeout=10]``.

        ``smtps://`` selects implicit TLS (port 465 by default).
        """
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigurationError(f"not an smtp:// or smtps:// URL: {parts.scheme}://...")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        security = "ssl" if parts.scheme == "smtps" else "none"
        if query.get("starttls", "").lower() in ("1", "true", "yes"):
            security = "starttls"
        return cls(
            parts.hostname,
            parts.port or (465 if security == "ssl" else 25),
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=float(query.get("timeout", "10")),
        )

    def _context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def _connect(self) -> _SMTP | _SMTP_SSL:
        """A logged-in session. :raises MailServerUnavailable: it could not be opened."""
        try:
            client: _SMTP | _SMTP_SSL
            if self.security == "ssl":
                client = _SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._context()
                )
            else:
                client = _SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise self._failure(MailServerUnavailable, exc) from exc
        try:
            if self.security == "starttls":
                client.starttls(context=self._context())
            if self.username:
                client.login(self.username, self._password or "")
        except (OSError, smtplib.SMTPException) as exc:
            client.close()
            raise self._failure(MailServerUnavailable, exc) from exc
        except BaseException:
            client.close()
            raise
        return client

    @contextmanager
    def connection(self) -> Iterator[None]:
        """Reuse one SMTP connection for every :meth:`send` in this block (this thread).

        :raises MailServerUnavailable: the connection could not be opened.
        """
        client = self._connect()
        self._local.client = client
        try:
            yield
        finally:
            # send() may have replaced the connection: close the current one.
            current: smtplib.SMTP = self._local.client or client
            self._local.client = None
            _quit_quietly(current)

    def send(self, email: OutgoingEmail) -> None:
        """Send one email (see :class:`Mailer`).

        :raises MailServerUnavailable: no session could be opened, or the server
            dropped or refused it (``421``) before taking the message.
        :raises MailDeliveryUncertain: the connection failed after the message
            was handed over: it may have been delivered.
        :raises MailDeliveryError: the server refused this message.
        """
        message = build_message(email)
        shared: _SMTP | _SMTP_SSL | None = getattr(self._local, "client", None)
        if shared is not None:
            self._send_on_shared(shared, message)
            return
        client = self._connect()
        try:
            self._transact(client, message)
        finally:
            _quit_quietly(client)

    def _send_on_shared(self, shared: _SMTP | _SMTP_SSL, message: Message) -> None:
        try:
            self._transact(shared, message)
        except MailServerUnavailable:
            # Servers cap messages per connection and then answer 421 or hang
            # up before taking the next message: open a new connection for the
            # rest of the block and send this one once more. A failure after
            # the message went out is never retried (MailDeliveryUncertain).
            _quit_quietly(shared)
            self._local.client = None
            fresh = self._connect()
            self._local.client = fresh
            self._transact(fresh, message)

    def _transact(self, client: _SMTP | _SMTP_SSL, message: Message) -> None:
        """One mail transaction, its failure classified by how far it got."""
        client.data_started = False
        try:
            client.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            kind: type[MailDeliveryError] = MailDeliveryError
            # SMTPException is an OSError too: "lost" is the connection, not a reply.
            lost = isinstance(exc, smtplib.SMTPServerDisconnected) or not isinstance(
                exc, smtplib.SMTPException
            )
            if client.data_started and lost:
                kind = MailDeliveryUncertain
            elif lost or _code_421(exc):
                kind = MailServerUnavailable
            raise self._failure(kind, exc) from exc

    def _failure(self, kind: type[MailDeliveryError], exc: BaseException) -> MailDeliveryError:
        logger.warning("SMTP delivery to %s:%s failed: %s", self.host, self.port, exc)
        reason = self._reason(exc)
        if kind is MailDeliveryUncertain:
            reason += " after the message was sent; it may have been delivered"
        return kind(reason)

    @staticmethod
    def _reason(exc: BaseException) -> str:
        # Short and free of credentials: the API caller sees this text.
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            return "the mail server refused the recipient"
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return "the mail server refused the sender"
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return "the mail server rejected the login"
        if isinstance(exc, smtplib.SMTPResponseException):
            return f"the mail server answered {exc.smtp_code}"
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return "the mail server closed the connection"
        if isinstance(exc, socket.timeout | TimeoutError):
            return "the mail server did not answer in time"
        if isinstance(exc, ConnectionRefusedError):
            return "could not connect to the mail server"
        if isinstance(exc, ssl.SSLError):
            return "TLS with the mail server failed"
        if isinstance(exc, OSError):
            return "could not reach the mail server"
        return "the mail server failed"


def _code_421(exc: BaseException) -> bool:
    """A ``421`` reply ("service not available, closing"), to any command.

    smtplib reports refused recipients all at once, each with its own code.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(code == 421 for code, _reply in exc.recipients.values())
    return getattr(exc, "smtp_code", None) == 421


class _DataTracking(smtplib.SMTP):
    """Notes when the message itself starts to go out (the ``DATA`` command):
    a connection lost before that point lost nothing, after it the message
    may have been delivered."""

    data_started = False

    def data(self, msg: Buffer | str) -> tuple[int, bytes]:
        self.data_started = True
        return super().data(msg)


class _SMTP(_DataTracking):
    pass


class _SMTP_SSL(_DataTracking, smtplib.SMTP_SSL):
    pass


def _quit_quietly(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


class ConsoleMailer:
    """Prints each email (text part only) to a stream; the default without SMTP.

    :param stream: where to write; standard output by default.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, email: OutgoingEmail) -> None:
        """Write the email to the stream."""
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(
                f"----- email -----\nFrom: {email.sender}\nTo: {email.to}\n"
                f"Subject: {email.subject}\n\n{email.text}\n----- end -----\n"
            )
            stream.flush()


class MemoryMailer:
    """Keeps sent emails in :attr:`outbox`; for tests.

    :param fail_with: when set, every send raises
        :class:`MailDeliveryError` with this reason.
    """

    def __init__(self, fail_with: str | None = None) -> None:
        self.outbox: list[OutgoingEmail] = []
        self.fail_with = fail_with
        self._lock = threading.Lock()

    def send(self, email: OutgoingEmail) -> None:
        """Append to :attr:`outbox`, or fail as configured."""
        build_message(email)  # same header checks as a real mailer
        if self.fail_with is not None:
            raise MailDeliveryError(self.fail_with)
        with self._lock:
            self.outbox.append(email)
