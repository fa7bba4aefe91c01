"""What one release stores, the next one must still read: sealed secrets,
signed portal tokens and their lookup hashes are stored formats.

The values below were produced once, by this library, with ``KEY``; any
change to the key derivation (HKDF salt, info, length), the signer (salt,
key derivation, digest) or the lookup hash breaks every database in use, and
fails here first.
"""

from __future__ import annotations

import pytest

from client_portal_core.tokens import PortalTokenCodec, Sealer

KEY = b"stored-format-key-0123456789abcdef"
WEBHOOK_SECRET = "whsec_c3RvcmVkIGZvcm1hdA=="
SEALED_WEBHOOK_SECRET = (
    "gAAAAABrDtABUpE4PEyyzGXsg2IAfOMIktoMUvAK4RqV6mKuELWOYSi9Kwx6Z1ZL5ePX8h2RcUj8Num98pwrMVwx"
    "iUNht9ahQ9PCJDsBPGaqsNThanAUbgE="
)
TOKEN = "dgHpW9ABzf9ra0-UsI9xKA.HiF3SjcjusOTGEm4hQ73MbgX5M19nTYj2xYo1OHEHHk"
LOOKUP_HASH = "c62cfef3f5da45efd2c2ea845d3171cd78077b46e11ad22665043de9d588253c"
SEALED_TOKEN = (
    "gAAAAABrDtABnX27VTizQfCWI4bhTTakAyhl8HXXBzDZ4qnqHf_mBOGhLIa2wFw-EzsMCIZn88u3JGzbPojV-t4h3U"
    "fe3r8w2SLc83X7JD-9yptYAJ8UzbvXBx_XHOrXUcNWojfjoGSOoNmCBZw1rt57wIa3IEdIovM3ZlXKTWI4bP86AXmkye4="
)


def test_a_webhook_secret_sealed_by_an_earlier_release_unseals() -> None:
    assert Sealer([KEY], purpose=b"webhook-secret").unseal(SEALED_WEBHOOK_SECRET) == WEBHOOK_SECRET


def test_a_sealed_value_opens_only_for_its_own_purpose() -> None:
    assert Sealer([KEY], purpose=b"portal-token").unseal(SEALED_WEBHOOK_SECRET) is None


def test_a_portal_token_minted_by_an_earlier_release_verifies_to_its_lookup_hash() -> None:
    codec = PortalTokenCodec([KEY])

    assert codec.verify(TOKEN) == LOOKUP_HASH
    assert PortalTokenCodec.lookup_hash(TOKEN.split(".")[0]) == LOOKUP_HASH


def test_a_portal_token_sealed_by_an_earlier_release_unseals() -> None:
    assert PortalTokenCodec([KEY]).unseal(SEALED_TOKEN) == TOKEN


def test_values_of_an_earlier_release_still_open_after_a_new_key_is_added() -> None:
    rotated = [KEY, b"a-newer-key-that-now-signs-0123456"]

    assert PortalTokenCodec(rotated).verify(TOKEN) == LOOKUP_HASH
    assert PortalTokenCodec(rotated).unseal(SEALED_TOKEN) == TOKEN
    assert (
        Sealer(rotated, purpose=b"webhook-secret").unseal(SEALED_WEBHOOK_SECRET) == WEBHOOK_SECRET
    )


def test_a_codec_without_keys_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match=r"^at least one secret key is required$"):
        PortalTokenCodec([])
