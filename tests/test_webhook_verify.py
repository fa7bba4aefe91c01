"""The receivers' ``verify()``: every way a message can be wrong is a
``WebhookVerificationError``, never a plain ``ValueError`` (the README's
receiver answers 400 for it, not 500)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from client_portal_core import WebhookVerificationError, verify
from client_portal_core.webhooks import generate_secret, signature_headers

NOW = 1_900_000_000
SECRET = generate_secret()
BODY = json.dumps({"type": "client_portal.token_created", "timestamp": "x", "data": {}}).encode()


def headers(*, timestamp: int = NOW, signature: str | None = None) -> dict[str, str]:
    signed = signature_headers("msg_1", timestamp, BODY, SECRET)
    if signature is not None:
        signed["webhook-signature"] = signature
    return signed


def test_a_genuine_message_verifies() -> None:
    assert verify(BODY, headers(), SECRET, now=NOW)["type"] == "client_portal.token_created"


def test_signatures_match_an_independent_standard_webhooks_implementation() -> None:
    theirs = Webhook(SECRET).sign("msg_1", datetime.fromtimestamp(NOW, UTC), BODY.decode())

    assert headers()["webhook-signature"] == theirs
    assert verify(BODY, headers(signature=theirs), SECRET, now=NOW)["data"] == {}


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("", id="empty"),
        pytest.param("whsec_", id="prefix-only"),
        pytest.param("whsec_not base64!", id="not-base64"),
        pytest.param("whsec_abc", id="bad-padding"),
        pytest.param(b"", id="empty-bytes"),
    ],
)
def test_a_malformed_or_empty_secret_is_a_verification_error(secret: str | bytes) -> None:
    with pytest.raises(WebhookVerificationError, match="secret"):
        verify(BODY, headers(), secret, now=NOW)


def test_an_empty_v1_signature_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="no webhook-signature matches"):
        verify(BODY, headers(signature="v1,"), SECRET, now=NOW)


@pytest.mark.parametrize("keep", [1, 10, 43])
def test_a_prefix_of_the_right_signature_is_refused(keep: int) -> None:
    right = headers()["webhook-signature"]
    prefix = right[: len("v1,") + keep]

    with pytest.raises(WebhookVerificationError, match="no webhook-signature matches"):
        verify(BODY, headers(signature=prefix), SECRET, now=NOW)


def test_the_right_signature_with_text_appended_is_refused() -> None:
    right = headers()["webhook-signature"]

    with pytest.raises(WebhookVerificationError, match="no webhook-signature matches"):
        verify(BODY, headers(signature=right + "A"), SECRET, now=NOW)


def test_one_matching_signature_among_several_is_enough() -> None:
    other = "v1," + base64.b64encode(b"x" * 32).decode()
    both = f"{other} {headers()['webhook-signature']}"

    assert verify(BODY, headers(signature=both), SECRET, now=NOW)["data"] == {}


@pytest.mark.parametrize("offset", [-301, 301, 3600, -3600, 10**9])
def test_timestamps_outside_the_tolerance_either_way_are_refused(offset: int) -> None:
    with pytest.raises(WebhookVerificationError, match="stale or replayed"):
        verify(BODY, headers(timestamp=NOW + offset), SECRET, now=NOW)


@pytest.mark.parametrize("offset", [-300, 300, 0])
def test_timestamps_within_the_tolerance_either_way_verify(offset: int) -> None:
    assert verify(BODY, headers(timestamp=NOW + offset), SECRET, now=NOW)["data"] == {}


def test_a_secret_with_characters_outside_base64_is_refused() -> None:
    # base64's lenient decoder would drop the "!" and accept the secret as if
    # it were spelled right; a mangled secret is a mistake to report.
    body = SECRET.removeprefix("whsec_")
    mangled = f"whsec_{body[:8]}!{body[8:]}"

    with pytest.raises(WebhookVerificationError, match="unusable webhook secret"):
        verify(BODY, headers(), mangled, now=NOW)


def test_the_body_may_be_given_as_text() -> None:
    assert verify(BODY.decode(), headers(), SECRET, now=NOW)["data"] == {}


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_missing_header_is_named_as_missing(missing: str) -> None:
    incomplete = {name: value for name, value in headers().items() if name != missing}

    with pytest.raises(WebhookVerificationError) as raised:
        verify(BODY, incomplete, SECRET, now=NOW)

    assert str(raised.value) == "missing webhook-id, webhook-timestamp or webhook-signature header"


def signed(body: bytes, *, timestamp: str = str(NOW)) -> dict[str, str]:
    headers = signature_headers("msg_1", NOW, body, SECRET)
    headers["webhook-timestamp"] = timestamp
    return headers


@pytest.mark.parametrize(
    ("body", "sent", "message"),
    [
        pytest.param(
            BODY,
            headers(timestamp=NOW - 301),
            f"webhook-timestamp {NOW - 301} is more than 300s from now: stale or replayed message",
            id="stale",
        ),
        pytest.param(
            BODY,
            signed(BODY, timestamp="soon"),
            "webhook-timestamp is not a whole number",
            id="timestamp-not-a-number",
        ),
        pytest.param(
            BODY,
            headers(signature="v1,AAAA"),
            "no webhook-signature matches: wrong secret or altered body",
            id="no-match",
        ),
        pytest.param(b"{oops", signed(b"{oops"), "the signed body is not JSON", id="not-json"),
        pytest.param(
            b"[1, 2]", signed(b"[1, 2]"), "the signed body is not a JSON object", id="not-an-object"
        ),
    ],
)
def test_each_refusal_says_what_is_wrong(body: bytes, sent: dict[str, str], message: str) -> None:
    with pytest.raises(WebhookVerificationError) as raised:
        verify(body, sent, SECRET, now=NOW)

    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        pytest.param(
            "whsec_abc",
            "unusable webhook secret: a webhook secret looks like whsec_<base64>",
            id="not-base64",
        ),
        pytest.param("whsec_", "unusable webhook secret: the webhook secret is empty", id="empty"),
    ],
)
def test_an_unusable_secret_says_why(secret: str, message: str) -> None:
    with pytest.raises(WebhookVerificationError) as raised:
        verify(BODY, headers(), secret, now=NOW)

    assert str(raised.value) == message
