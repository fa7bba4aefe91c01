"""Portal tokens, API tokens and sealed secrets.

A portal token is ``<id>.<signature>``: a 128-bit random id signed with
itsdangerous (HMAC-SHA256). The signature is checked before any database
read, so a tampered or made-up token costs one HMAC and no query.

What the database holds is never usable as a token:

* ``lookup_hash``: SHA-256 of the random id, to find the row;
* ``sealed``: the token string encrypted (Fernet, keys derived from the
  secret keys with HKDF), so that get-or-create can hand the *same* token
  back while it is valid.

Keys rotate the itsdangerous way: a list, oldest first, the last one signs
and seals; every key in the list still verifies and unseals.

No secret is compared with ``==`` anywhere: signatures (portal tokens,
session cookies, CSRF fields) are checked by itsdangerous with
``hmac.compare_digest``, API tokens and links are found by their SHA-256
in an index, and the receivers' ``verify()`` compares webhook signatures
with ``hmac.compare_digest`` itself.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadSignature, Signer

from .errors import TokenInvalid

__all__ = [
    "API_TOKEN_PREFIX",
    "UNSEALABLE",
    "UNSEALABLE_REASON",
    "NewPortalToken",
    "PortalTokenCodec",
    "Sealer",
    "hash_api_token",
    "is_canonical_signature",
    "new_api_token",
]

#: ``seal_status`` of a stored webhook secret or portal token that no listed key opens.
UNSEALABLE = "unsealable"
#: Why (``seal_error``, log lines): never the secret, never a key.
UNSEALABLE_REASON = "sealed with a key that is no longer in secret_keys"

#: Prefix of library-issued API tokens, so leaked ones are easy to grep for.
API_TOKEN_PREFIX = "cpk_"
_TOKEN_ID_BYTES = 16  # 128 bits of randomness
_MAX_TOKEN_LENGTH = 256
_UNSEALED_CACHE_ENTRIES = 4096
#: ``<id>.<signature>``: URL-safe base64 without padding. An HMAC-SHA256 is 43
#: characters whose last one carries 2 spare bits, which canonical base64
#: leaves at zero: only every fourth letter of the alphabet may end it.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,200}\.[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")
#: An HMAC-SHA256 signature alone, in that canonical spelling.
_SIGNATURE_SHAPE = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")


def is_canonical_signature(signature: str) -> bool:
    """Whether ``signature`` is an HMAC-SHA256 in canonical unpadded URL-safe base64.

    base64's decoder tolerates padding, junk and set spare bits, so one
    signature has many spellings; only this one is accepted anywhere a
    signed value is read (portal tokens, session cookies, CSRF fields).
    """
    return _SIGNATURE_SHAPE.fullmatch(signature) is not None


def new_api_token() -> str:
    """A fresh API token: ``cpk_`` + 256 random bits, URL-safe."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_api_token(token: str) -> str:
    """The stored form of an API token (SHA-256 hex).

    API tokens carry 256 random bits, so a fast hash is enough: there is no
    dictionary to attack, and lookups stay one index probe.
    """
    return hashlib.sha256(token.encode()).hexdigest()


class Sealer:
    """Reversible encryption of small secrets with keys derived from the secret keys.

    :param keys: the secret keys, oldest first (the last one seals).
    :param purpose: separates key material per use (tokens, webhook secrets...).
    """

    def __init__(self, keys: list[bytes], purpose: bytes) -> None:
        fernets = [Fernet(self._derive(key, purpose)) for key in reversed(keys)]
        self._fernet = MultiFernet(fernets)

    @staticmethod
    def _derive(key: bytes, purpose: bytes) -> bytes:
        hkdf = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"client-portal-core",
            info=b"seal:" + purpose,
        )
        return base64.urlsafe_b64encode(hkdf.derive(key))

    def seal(self, secret: str) -> str:
        """Encrypt ``secret`` with the newest key."""
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def unseal(self, sealed: str) -> str | None:
        """Decrypt with any key in the list; ``None`` when no key opens it."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class NewPortalToken:
    """A freshly minted portal token and the two strings stored for it."""

    token: str
    lookup_hash: str
    sealed: str


class PortalTokenCodec:
    """Mints, verifies and seals portal tokens.

    :param keys: the secret keys, oldest first; the last one signs.
    """

    salt = b"client-portal-core.portal-token"

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one secret key is required")
        self._signer = Signer(
            keys, salt=self.salt, key_derivation="hmac", digest_method=hashlib.sha256
        )
        self._sealer = Sealer(keys, purpose=b"portal-token")
        self._unsealed: dict[str, str] = {}

    @staticmethod
    def lookup_hash(token_id: str) -> str:
        """The stored lookup key of a token id (SHA-256 hex)."""
        return hashlib.sha256(token_id.encode()).hexdigest()

    def mint(self) -> NewPortalToken:
        """A new random token, signed with the newest key."""
        token_id = secrets.token_urlsafe(_TOKEN_ID_BYTES)
        token = self._signer.sign(token_id).decode("ascii")
        return NewPortalToken(
            token=token, lookup_hash=self.lookup_hash(token_id), sealed=self._sealer.seal(token)
        )

    def verify(self, token: str) -> str:
        """Check the signature and return the token's lookup hash.

        Only the exact spelling that was minted verifies: base64 leaves spare
        bits in the signature's last character and its decoder tolerates
        padding and junk, so the token must match its canonical shape (no
        padding, nothing appended, the spare bits zero) before the HMAC.
        One token has one spelling, and whatever is keyed on it (the per-link
        rate limit) cannot be dodged by respelling it.

        :raises TokenInvalid: the token is malformed, not in its canonical
            form, or its signature does not verify with any key. No database
            is touched.
        """
        if len(token) > _MAX_TOKEN_LENGTH or not _TOKEN_SHAPE.fullmatch(token):
            raise TokenInvalid()
        try:
            token_id = self._signer.unsign(token).decode("ascii")
        except (BadSignature, UnicodeDecodeError) as exc:
            raise TokenInvalid() from exc
        return self.lookup_hash(token_id)

    def unseal(self, sealed: str) -> str | None:
        """The token stored in ``sealed``, or ``None`` if it can no longer be used.

        A token whose signing key left the key list cannot be handed out
        again; the caller then issues a new one.
        """
        cached = self._unsealed.get(sealed)
        if cached is not None:
            return cached
        token = self._sealer.unseal(sealed)
        if token is None:
            return None
        try:
            self.verify(token)
        except TokenInvalid:
            return None
        # Get-or-create hands the same token out again and again while it is
        # valid; decrypting it each time would dominate POST /token. The
        # cache is per process, bounded, and lives as long as these keys.
        if len(self._unsealed) >= _UNSEALED_CACHE_ENTRIES:
            self._unsealed.clear()
        self._unsealed[sealed] = token
        return token
