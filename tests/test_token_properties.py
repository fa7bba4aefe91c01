"""Property tests of portal token parsing: one token has one spelling.

The signature's base64 has spare bits in its last character and tolerates
padding or junk after it; a decoder that accepted those would let one link
be spelled many ways (and so dodge a per-link limit). Only the exact string
the codec minted verifies.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client_portal_core.errors import TokenInvalid
from client_portal_core.tokens import PortalTokenCodec

OLD_KEY = b"old-secret-key-aaaaaaaaaaaaaaaa"
NEW_KEY = b"new-secret-key-bbbbbbbbbbbbbbbb"
CODEC = PortalTokenCodec([OLD_KEY, NEW_KEY])
#: Tokens signed by the old key and by the new one: both are genuine.
TOKENS = [PortalTokenCodec([OLD_KEY]).mint().token, CODEC.mint().token]
URLSAFE = string.ascii_letters + string.digits + "-_"
#: What may follow or replace parts of a token in a URL path.
JUNK = st.text(alphabet=URLSAFE + "=.~%+/", min_size=1, max_size=8)


def verifies(token: str) -> bool:
    try:
        CODEC.verify(token)
    except TokenInvalid:
        return False
    return True


@st.composite
def respelled(draw: st.DrawFn) -> tuple[str, str]:
    """A genuine token and a variant of it: a character changed, something
    appended, inserted or cut off."""
    token = draw(st.sampled_from(TOKENS))
    how = draw(st.sampled_from(["replace", "append", "insert", "truncate"]))
    if how == "append":
        return token, token + draw(JUNK)
    position = draw(st.integers(min_value=0, max_value=len(token) - 1))
    if how == "replace":
        return token, token[:position] + draw(st.sampled_from(URLSAFE + "=.")) + token[
            position + 1 :
        ]
    if how == "insert":
        return token, token[:position] + draw(JUNK) + token[position:]
    return token, token[:position]


@given(respelled())
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
def test_only_the_minted_spelling_of_a_token_verifies(pair: tuple[str, str]) -> None:
    token, variant = pair

    assert verifies(variant) == (variant == token)


@pytest.mark.parametrize("token", TOKENS, ids=["old-key", "new-key"])
def test_every_other_last_signature_character_is_refused(token: str) -> None:
    accepted = [char for char in URLSAFE if verifies(token[:-1] + char)]

    assert accepted == [token[-1]]


@pytest.mark.parametrize("suffix", ["=", "==", "=v1", "=v40", "==x"])
def test_padding_or_anything_after_it_is_refused(suffix: str) -> None:
    assert not verifies(TOKENS[1] + suffix)


@given(st.text(max_size=120))
@settings(max_examples=300)
def test_arbitrary_text_never_verifies(text: str) -> None:
    assert not verifies(text)


def test_each_spelling_verifies_to_the_lookup_hash_of_its_id() -> None:
    token = TOKENS[1]

    assert CODEC.verify(token) == PortalTokenCodec.lookup_hash(token.split(".")[0])


@given(
    keys=st.lists(st.binary(min_size=16, max_size=48), min_size=1, max_size=3, unique=True),
    position=st.integers(min_value=0),
    replacement=st.sampled_from(URLSAFE + "=."),
)
@settings(max_examples=200)
def test_a_token_minted_under_any_keys_verifies_and_no_one_character_change_does(
    keys: list[bytes], position: int, replacement: str
) -> None:
    codec = PortalTokenCodec(keys)
    token = codec.mint().token
    index = position % len(token)
    changed = token[:index] + replacement + token[index + 1 :]

    assert codec.verify(token) == PortalTokenCodec.lookup_hash(token.split(".")[0])
    if changed != token:
        with pytest.raises(TokenInvalid):
            codec.verify(changed)


@given(st.text(alphabet=URLSAFE, min_size=1, max_size=4))
@settings(max_examples=100)
def test_a_case_change_or_a_prefix_of_a_token_is_refused(junk: str) -> None:
    token = TOKENS[1]

    for variant in (token.swapcase(), token.upper(), token[: len(token) // 2], junk + token):
        assert variant == token or not verifies(variant)
