"""Property tests of email headers: any subject or sender name, in any script.

Whatever text a tenant chooses (its portal name is the From display name,
its subject template and language give the subject), the message on the
wire has exactly the headers :func:`build_message` writes, every header line
is at most 78 characters (RFC 5322's limit; encoded words at most 75, RFC
2047), and a reader decodes exactly the intended text.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import Message

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client_portal_core.errors import MailDeliveryError
from client_portal_core.mail import OutgoingEmail, build_message, format_sender, wire_bytes
from support import rfc2047_address

SENDER_ADDRESS = "portal@mail.example.com"
TO = "ann@example.com"
HEADERS = {"content-type", "mime-version", "subject", "from", "to", "date", "message-id"}
#: Characters at the edges: line breaks, controls, bidi, quotes, encoded-word look-alikes.
EDGES = [
    "\r", "\n", "\r\n", "\t", "\x00", "\x07", "\x0b", "\x1d", "\x7f", "\x85", "\u2028",
    "\u202e", "\ufeff", '"', "\\", ",", ";", ":", "<", ">", "@", "(", ")", "=?", "?=",
    "=?utf-8?q?x?=", " ", "  ", "é", "\U0001d54b", "Subject: x", "Bcc: evil@example.com",
]  # fmt: skip
#: Any text a JSON document can carry (no lone surrogates), edges drawn often.
TEXT = st.lists(
    st.one_of(
        st.sampled_from(EDGES), st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
    ),
    max_size=12,
).map("".join)
LONG_WORDS = st.text(st.sampled_from("xé\U0001d54b"), min_size=50, max_size=300)


def wire(subject: str, sender: str) -> bytes:
    """The bytes an SMTP client hands over for an email with these headers."""
    message = build_message(
        OutgoingEmail(to=TO, subject=subject, text="text", html="<p>html</p>", sender=sender)
    )
    return wire_bytes(message)


def header_lines(raw: bytes) -> list[bytes]:
    """The header section's physical lines."""
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def display_name(message: Message) -> str:
    """The From display name as a mail client decodes it (RFC 2047)."""
    name, address = rfc2047_address(str(message["From"]))
    assert address == SENDER_ADDRESS
    return name


@given(name=TEXT, subject=TEXT)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_no_subject_or_name_adds_a_header_and_both_decode_to_the_intended_text(
    name: str, subject: str
) -> None:
    # As the invitation builds them: the subject on one line, the name through format_sender.
    one_line = " ".join(subject.split())
    raw = wire(one_line, format_sender(name, SENDER_ADDRESS))

    compat = email.message_from_bytes(raw)
    modern = email.message_from_bytes(raw, policy=email.policy.default)
    assert {key.lower() for key in modern} == HEADERS
    assert len(modern.get_all("From") or []) == 1
    assert [a.addr_spec for a in modern["From"].addresses] == [SENDER_ADDRESS]
    assert [a.addr_spec for a in modern["To"].addresses] == [TO]
    assert str(modern["Subject"]) == one_line
    assert display_name(compat) == " ".join(name.split())


@given(name=TEXT, subject=TEXT)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_every_header_line_is_at_most_78_characters(name: str, subject: str) -> None:
    raw = wire(" ".join(subject.split()), format_sender(name, SENDER_ADDRESS))

    assert all(len(line) <= 78 for line in header_lines(raw))
    for word in re.findall(rb"=\?[^?]+\?[bBqQ]\?[^?]*\?=", raw.split(b"\r\n\r\n", 1)[0]):
        assert len(word) <= 75, word


@given(name=LONG_WORDS, subject=LONG_WORDS)
@settings(max_examples=100)
def test_long_words_in_any_script_are_folded_not_left_on_one_line(name: str, subject: str) -> None:
    raw = wire(subject, format_sender(name, SENDER_ADDRESS))

    assert all(len(line) <= 78 for line in header_lines(raw))
    assert str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"]) == subject
    assert display_name(email.message_from_bytes(raw)) == name


@given(subject=TEXT.filter(lambda text: "\r" in text or "\n" in text))
@settings(max_examples=100)
def test_a_line_break_in_a_subject_is_refused_never_sent(subject: str) -> None:
    with pytest.raises(MailDeliveryError):
        wire(subject, format_sender("Acme", SENDER_ADDRESS))


@pytest.mark.parametrize(
    "name", ["\U0001d54b\U0001d559\U0001d556 " * 6, "é" * 60, "x" * 100, "Acme, Inc. " + "é" * 40]
)
def test_a_long_or_non_ascii_sender_name_is_split_into_short_encoded_words(name: str) -> None:
    raw = wire("Hello", format_sender(name, SENDER_ADDRESS))

    assert max(len(line) for line in header_lines(raw)) <= 78
    assert display_name(email.message_from_bytes(raw)) == " ".join(name.split())
