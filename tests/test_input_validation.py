"""One rule per kind of caller text, at every door: HTTP, the Python API, bulk
runs and the command line.

* ``custom_message``: at most 2000 characters, no control characters (line
  breaks and tabs are text), no Unicode bidirectional formatting characters.
* Subject ids reach the directory exactly as sent: nothing is stripped, and
  an id with whitespace at either end, a control or bidi character, or more
  than 64 characters is refused (404 in a path, 422 in a JSON body, a
  ``SubjectNotFound`` from the Python API, a ``ValueError`` for a bulk job).
"""

from __future__ import annotations

from typing import Any

import pytest

from client_portal_core import ClientPortal, MemoryMailer
from client_portal_core.errors import InvalidInput, SubjectNotFound
from conftest import API, TENANT_A, Directory, PortalClient
from support import run_host_cli

CONTROL = "must be plain text without control characters or bidirectional formatting characters"
TOO_LONG = "must be at most 2000 characters"
#: Every Unicode bidirectional formatting character (Bidi_Control).
BIDI_CONTROLS = [
    "\u061c",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
]
#: Control characters a message may not hold: NUL, BEL, ESC, DEL, C1 (NEL, CSI).
CONTROLS = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9b"]
BAD_MESSAGES = [
    pytest.param("x" * 2001, TOO_LONG, id="too-long"),
    *(pytest.param(f"Hello {c} there", CONTROL, id=f"control-{ord(c):02x}") for c in CONTROLS),
    *(pytest.param(f"Pay {c}gpj.exe", CONTROL, id=f"bidi-{ord(c):04x}") for c in BIDI_CONTROLS),
]


def outbox(portal: ClientPortal) -> list[Any]:
    mailer = portal.mailer
    assert isinstance(mailer, MemoryMailer)
    return mailer.outbox


# -- custom_message ---------------------------------------------------------------


@pytest.mark.parametrize(("message", "problem"), BAD_MESSAGES)
def test_the_python_api_refuses_a_bad_custom_message_and_records_nothing(
    portal: ClientPortal, message: str, problem: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        portal.invite(TENANT_A, "contact", 1, custom_message=message)

    assert refused.value.errors == {"custom_message": [problem]}
    assert isinstance(refused.value, ValueError)
    assert portal.list_invitations(TENANT_A) == []
    assert outbox(portal) == []


@pytest.mark.parametrize(("message", "problem"), BAD_MESSAGES[:3] + BAD_MESSAGES[-3:])
def test_http_refuses_a_bad_custom_message_with_the_same_words(
    client: PortalClient, message: str, problem: str
) -> None:
    reply = client.post(f"{API}/contacts/1/invite", json={"custom_message": message})

    assert reply.status == 422
    assert reply.json()["errors"] == {"custom_message": [problem]}


@pytest.mark.parametrize(("message", "problem"), BAD_MESSAGES[:3] + BAD_MESSAGES[-2:])
def test_invite_many_refuses_a_bad_custom_message_before_any_job(
    portal: ClientPortal, message: str, problem: str
) -> None:
    subjects = [("contact", "1"), ("contact", "c-7f3e")]

    with pytest.raises(InvalidInput, match=problem):
        portal.invite_many(TENANT_A, subjects, custom_message=message)
    with pytest.raises(InvalidInput, match=problem):
        portal.bulk.create_job(TENANT_A, subjects, custom_message=message)

    assert portal.bulk.list_jobs(TENANT_A) == []
    assert outbox(portal) == []


def test_a_message_of_exactly_2000_characters_with_line_breaks_and_tabs_is_sent(
    portal: ClientPortal,
) -> None:
    message = ("Line one\tand a tab\r\nline two\n" * 80)[:2000]

    result = portal.invite(TENANT_A, "contact", 1, custom_message=message)

    assert result.invitation.custom_message == message
    assert "line two" in outbox(portal)[0].text


@pytest.mark.parametrize("module", ["examples.fastapi_host", "examples.flask_host"])
def test_the_bulk_command_refuses_a_bad_custom_message(module: str, tmp_path: Any) -> None:
    done = run_host_cli(
        module,
        "invite-bulk",
        "--database-url",
        f"sqlite:///{tmp_path / 'portal.db'}",
        "--tenant",
        "1",
        "--all-contacts",
        "--custom-message",
        "Pay \u202egpj.exe",
    )

    assert done.returncode == 2
    assert f"argument --custom-message: {CONTROL}" in done.stderr
    assert "Traceback" not in done.stderr


# -- subject ids --------------------------------------------------------------------

#: Spellings of contact 1 that a host's "digits only" check would refuse,
#: and that stripping used to turn into "1".
NOT_ONE = [
    pytest.param(" 1", id="leading-space"),
    pytest.param("1 ", id="trailing-space"),
    pytest.param("\n1\n", id="line-feeds"),
    pytest.param("\u00a01", id="nbsp"),
    pytest.param("1\u3000", id="ideographic-space"),
    pytest.param("\t1", id="tab"),
    pytest.param("\u202e1", id="bidi"),
]


@pytest.mark.parametrize("raw", NOT_ONE)
def test_a_json_id_is_never_stripped_into_another_subject(
    client: PortalClient, directory: Directory, raw: str
) -> None:
    reply = client.post(f"{API}/token", json={"type": "contact", "id": raw})

    assert reply.status == 422
    assert list(reply.json()["errors"]) == ["id"]
    assert directory.calls == []


@pytest.mark.parametrize(
    "encoded",
    ["%201", "1%20", "%0A1%0A", "%C2%A01", "1%C2%A0", "%091", "%E2%80%AE1"],
)
def test_a_path_id_is_never_stripped_into_another_subject(
    client: PortalClient, directory: Directory, encoded: str
) -> None:
    reply = client.post(f"{API}/contacts/{encoded}/invite")

    assert reply.status == 404
    assert reply.json() == {"message": "Contact not found"}
    assert directory.calls == []
    assert outbox(client.portal) == []


@pytest.mark.parametrize("raw", NOT_ONE)
def test_the_python_api_never_strips_an_id(
    portal: ClientPortal, directory: Directory, raw: str
) -> None:
    with pytest.raises(SubjectNotFound):
        portal.invite(TENANT_A, "contact", raw)
    with pytest.raises(SubjectNotFound):
        portal.get_or_create_token(TENANT_A, "contact", raw)

    assert directory.calls == []
    assert outbox(portal) == []


@pytest.mark.parametrize("raw", NOT_ONE)
def test_a_bulk_job_never_strips_an_id(portal: ClientPortal, raw: str) -> None:
    with pytest.raises(ValueError, match="invalid contact id"):
        portal.invite_many(TENANT_A, [("contact", raw)])

    assert portal.bulk.list_jobs(TENANT_A) == []


def test_the_directory_receives_an_accepted_id_exactly_as_sent(
    client: PortalClient, directory: Directory
) -> None:
    client.post(f"{API}/token", json={"type": "contact", "id": "a b\u00e9\u200b"})
    client.post(f"{API}/contacts/c-7f3e/invite")
    client.post(f"{API}/token", json={"type": "company", "id": 10})

    assert [call[2] for call in directory.calls] == ["a b\u00e9\u200b", "c-7f3e", "10"]
