"""Standard Webhooks signatures: secrets, signing, and the receivers' ``verify``.

The signature is ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``
keyed by the base64-decoded part of a ``whsec_`` secret, as in the Standard
Webhooks specification, so any of its verifying libraries accepts our
messages and receivers can use :func:`verify` without this library's core.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "SECRET_PREFIX",
    "WebhookVerificationError",
    "generate_secret",
    "sign",
    "signature_headers",
    "verify",
]

#: Prefix of every webhook signing secret.
SECRET_PREFIX: Final = "whsec_"
#: How far a ``webhook-timestamp`` may be from the receiver's clock (replay window).
DEFAULT_TOLERANCE_SECONDS: Final = 300
_SECRET_BYTES = 32


class WebhookVerificationError(ValueError):
    """A webhook failed verification: missing header, stale timestamp or bad signature."""


def generate_secret() -> str:
    """A new signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        key = secret
    else:
        try:
            key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("a webhook secret looks like whsec_<base64>") from exc
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def sign(msg_id: str, timestamp: int, body: bytes, secret: str | bytes) -> str:
    """The ``webhook-signature`` value of ``body`` (``v1,<base64>``).

    :param msg_id: the ``webhook-id``.
    :param timestamp: the ``webhook-timestamp``, in whole seconds since the epoch.
    :param body: the exact bytes sent.
    :param secret: a ``whsec_`` secret, or the raw key bytes.
    """
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_headers(
    msg_id: str, timestamp: int, body: bytes, secret: str | bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(msg_id, timestamp, body, secret),
    }


def verify(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: str | bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a received webhook and return its parsed body.

    Pass the raw request body, exactly as received (not re-serialized JSON),
    the request headers (any mapping, names in any case) and the endpoint's
    ``whsec_`` secret.

    :param tolerance: seconds the ``webhook-timestamp`` may differ from ``now``.
    :param now: the current Unix time; ``time.time()`` by default.
    :returns: ``{"type": ..., "timestamp": ..., "data": {...}}``.
    :raises WebhookVerificationError: the secret is empty or not
        ``whsec_<base64>``, a header is missing or malformed, the timestamp is
        outside the tolerance either way (stale, replayed or from the
        future), or no ``v1`` signature matches exactly (wrong secret,
        altered body, a truncated or empty signature).
    """
    try:
        key = _key(secret)
    except ValueError as exc:
        raise WebhookVerificationError(f"unusable webhook secret: {exc}") from None
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    raw_timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (msg_id and raw_timestamp and signatures):
        raise WebhookVerificationError(
            "missing webhook-id, webhook-timestamp or webhook-signature header"
        )
    try:
        timestamp = int(raw_timestamp)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not a whole number") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp {timestamp} is more than {tolerance:g}s from now: "
            "stale or replayed message"
        )
    body = payload.encode() if isinstance(payload, str) else bytes(payload)
    expected = sign(msg_id, timestamp, body, key).encode("ascii")
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(f"v1,{value}".encode(), expected):
            break
    else:
        raise WebhookVerificationError("no webhook-signature matches: wrong secret or altered body")
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise WebhookVerificationError("the signed body is not JSON") from exc
    if not isinstance(parsed, dict):
        raise WebhookVerificationError("the signed body is not a JSON object")
    return parsed
