"""The checks every mailer passes: :class:`MailerContract`."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from ..async_mail import AsyncMailerBridge, is_async_mailer, send_checked
from ..errors import (
    InvitationFailed,
    MailDeliveryError,
    MailDeliveryUncertain,
    MailServerUnavailable,
)
from ..mail import OutgoingEmail
from ._portal import make_test_portal

__all__ = ["DeliveredEmail", "MailerContract", "MailerHarness", "send_with"]


@dataclass(frozen=True, slots=True)
class DeliveredEmail:
    """One email as the receiver (server, API stand-in, stream) got it.

    :param html: ``None`` when the mailer does not deliver an HTML part
        (the console mailer prints the text only).
    """

    to: str
    subject: str
    text: str
    html: str | None = None


@dataclass
class MailerHarness:
    """A mailer under test and the receiver it delivers to.

    :param mailer: the mailer, delivering to a working receiver.
    :param delivered: what that receiver has got so far, oldest first.
    :param refusing: a mailer like it whose receiver refuses every message
        (an SMTP 550, an HTTP 400); ``None`` if it cannot be refused.
    :param unreachable: one whose receiver is down (nothing listens);
        ``None`` if it has no server.
    :param uncertain: one whose receiver drops the connection after taking
        the message, before confirming it; ``None`` to skip that check.
    :param secrets: strings (passwords, API keys) no error reason may contain.
    """

    mailer: Any
    delivered: Callable[[], list[DeliveredEmail]]
    refusing: Any = None
    unreachable: Any = None
    uncertain: Any = None
    secrets: Sequence[str] = field(default_factory=tuple)


_bridges: weakref.WeakKeyDictionary[Any, AsyncMailerBridge] = weakref.WeakKeyDictionary()
_bridges_lock = threading.Lock()


def send_with(mailer: Any, email: OutgoingEmail) -> None:
    """Send ``email`` as a portal would: an ``async def send`` on one loop per mailer
    (the mailer may keep loop-bound clients between sends), a plain one directly."""
    if not is_async_mailer(mailer):
        send_checked(mailer.send, email)
        return
    with _bridges_lock:
        bridge = _bridges.get(mailer)
        if bridge is None:
            bridge = _bridges[mailer] = AsyncMailerBridge(mailer)
    bridge.send(email)


def _email(to: str = "ann@example.com", subject: str = "Your portal") -> OutgoingEmail:
    return OutgoingEmail(
        to=to,
        subject=subject,
        text=f"Hello,\nyour link: https://portal.example.test/p/{to}\n",
        html=f"<p>Hello, <a href='https://portal.example.test/p/{to}'>your portal</a></p>",
        sender="Portal <portal@example.test>",
    )


class MailerContract:
    """Checks for any mailer; subclass it in a ``Test*`` class of your suite.

    Define a ``mailer_harness`` fixture returning a :class:`MailerHarness`::

        class TestMyMailer(MailerContract):
            @pytest.fixture
            def mailer_harness(self, my_server):
                return MailerHarness(
                    mailer=MyMailer(my_server.url),
                    delivered=my_server.received,
                    refusing=MyMailer(my_server.refusing_url),
                    unreachable=MyMailer("http://127.0.0.1:9"),
                )

    A mailer that has no such receiver at all (a console or in-memory mailer
    cannot be refused or be unreachable) says so once in
    :attr:`not_applicable`, and those checks are not collected; a check
    whose harness field is ``None`` otherwise is skipped, saying why.
    """

    #: The checks that cannot apply to this mailer, by the harness field
    #: they need: ``"refusing"``, ``"unreachable"``, ``"uncertain"``.
    not_applicable: ClassVar[frozenset[str]] = frozenset()

    #: The checks that need each optional harness field.
    _NEEDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "refusing": (
            "test_refused_email_raises_mail_delivery_error_with_a_safe_reason",
            "test_refused_invitation_through_a_portal_is_recorded_failed_with_the_reason",
        ),
        "unreachable": ("test_unreachable_receiver_raises_mail_server_unavailable",),
        "uncertain": ("test_connection_lost_after_hand_off_raises_mail_delivery_uncertain",),
    }

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = set(cls.not_applicable) - set(cls._NEEDS)
        if unknown:
            raise TypeError(
                f"{cls.__name__}.not_applicable: unknown {sorted(unknown)}; "
                f"choose from {sorted(cls._NEEDS)}"
            )
        for field_name in cls.not_applicable:
            for check in cls._NEEDS[field_name]:
                setattr(cls, check, None)  # pytest collects no attribute that is None

    def test_send_delivers_the_email_unchanged(self, mailer_harness: MailerHarness) -> None:
        email = _email(subject="Your portal: Zugang für Jürgen ✓")
        send_with(mailer_harness.mailer, email)

        [got] = mailer_harness.delivered()
        assert (got.to, got.subject) == (email.to, email.subject)
        assert got.text.strip() == email.text.strip()
        if got.html is not None:
            assert got.html.strip() == email.html.strip()

    def test_sends_from_many_threads_all_arrive_once(self, mailer_harness: MailerHarness) -> None:
        recipients = [f"user{n}@example.com" for n in range(8)]
        errors: list[BaseException] = []

        def send(to: str) -> None:
            try:
                send_with(mailer_harness.mailer, _email(to=to))
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(to,)) for to in recipients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        assert errors == []
        assert sorted(got.to for got in mailer_harness.delivered()) == sorted(recipients)

    def test_refused_email_raises_mail_delivery_error_with_a_safe_reason(
        self, mailer_harness: MailerHarness
    ) -> None:
        if mailer_harness.refusing is None:
            pytest.skip("the harness has no refusing receiver")
        with pytest.raises(MailDeliveryError) as raised:
            send_with(mailer_harness.refusing, _email())

        reason = raised.value.reason
        assert reason.strip()
        assert "\n" not in reason
        assert not [secret for secret in mailer_harness.secrets if secret in reason]

    def test_unreachable_receiver_raises_mail_server_unavailable(
        self, mailer_harness: MailerHarness
    ) -> None:
        if mailer_harness.unreachable is None:
            pytest.skip("the mailer has no server to be unreachable")
        with pytest.raises(MailServerUnavailable) as raised:
            send_with(mailer_harness.unreachable, _email())

        assert not [s for s in mailer_harness.secrets if s in raised.value.reason]

    def test_connection_lost_after_hand_off_raises_mail_delivery_uncertain(
        self, mailer_harness: MailerHarness
    ) -> None:
        if mailer_harness.uncertain is None:
            pytest.skip("the harness cannot drop a connection after the hand-off")
        with pytest.raises(MailDeliveryUncertain):
            send_with(mailer_harness.uncertain, _email())

    def test_invitation_through_a_portal_is_delivered_and_recorded_sent(
        self, mailer_harness: MailerHarness
    ) -> None:
        portal = make_test_portal(mailer=mailer_harness.mailer)
        try:
            result = portal.invite("tenant-a", "contact", "1", custom_message="Welcome")
            [got] = mailer_harness.delivered()
            [record] = portal.list_invitations("tenant-a")
        finally:
            portal.engine.dispose()

        assert got.to == "ann@example.com"
        assert result.token.url in got.text
        assert "Welcome" in got.text
        assert (record.id, record.status) == (result.invitation.id, "sent")

    def test_refused_invitation_through_a_portal_is_recorded_failed_with_the_reason(
        self, mailer_harness: MailerHarness
    ) -> None:
        if mailer_harness.refusing is None:
            pytest.skip("the harness has no refusing receiver")
        portal = make_test_portal(mailer=mailer_harness.refusing)
        try:
            with pytest.raises(InvitationFailed) as raised:
                portal.invite("tenant-a", "contact", "1")
            [record] = portal.list_invitations("tenant-a")
        finally:
            portal.engine.dispose()

        assert record.status in ("failed", "unknown")
        assert record.error == raised.value.reason
