"""Property tests of subject ids: what the directory receives, for any input.

An independent oracle (written with :mod:`unicodedata`, not the library's
regular expression) says which ids are acceptable; the library must agree
with it, hand accepted ids on unchanged, and its OpenAPI pattern must accept
exactly the same strings, so a schema-driven client sends only what works.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client_portal_core.schemas import TokenRequest
from client_portal_core.validation import (
    SUBJECT_ID_PATH_PATTERN,
    SUBJECT_ID_PATTERN,
    check_subject_id,
    subject_id_or_none,
)
from conftest import API, TENANT_A, Directory, PortalFactory, mount

BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Characters at the edges of the rule, drawn often.
EDGES = [
    " ", "\t", "\n", "\r", "\x00", "\x1f", "\x7f", "\x85", "\x9f", "\xa0", "\u1680",
    "\u2000", "\u200a", "\u200b", "\u2028", "\u202f", "\u205f", "\u3000", "\ufeff",
    "\ud800", "\udfff", "1", "a", "é", "-", "#", *sorted(BIDI_CONTROLS),
]  # fmt: skip
CHARACTERS = st.one_of(st.sampled_from(EDGES), st.characters(exclude_categories=()))
IDS = st.text(CHARACTERS, max_size=70)


def acceptable(text: str) -> bool:
    """The documented rule, written independently of the library's code."""
    return (
        1 <= len(text) <= 64
        and not text[0].isspace()
        and not text[-1].isspace()
        and all(
            unicodedata.category(char) not in ("Cc", "Cs") and char not in BIDI_CONTROLS
            for char in text
        )
    )


@given(IDS)
@settings(max_examples=1500)
def test_an_id_is_accepted_exactly_when_the_documented_rule_says_so(text: str) -> None:
    assert (subject_id_or_none(text) is not None) == acceptable(text)


@given(IDS.filter(acceptable))
@settings(max_examples=500)
def test_an_accepted_id_reaches_the_directory_unchanged(text: str) -> None:
    assert check_subject_id(text) == text
    assert TokenRequest(type="contact", id=text).id == text


def has_utf8_form(text: str) -> bool:
    """Whether ``text`` can travel in a JSON document (it has no lone surrogate)."""
    return not any(unicodedata.category(char) == "Cs" for char in text)


@given(IDS.filter(has_utf8_form))
@settings(max_examples=1500)
def test_the_openapi_pattern_accepts_exactly_what_the_server_accepts(text: str) -> None:
    # JSON Schema validators search for the pattern (they do not fullmatch it).
    # Lone surrogates have no UTF-8 form, so no request carries one; the
    # pattern leaves them out (a surrogate range is no ECMA-262 expression).
    assert (re.search(SUBJECT_ID_PATTERN, text) is not None) == acceptable(text)


@pytest.mark.parametrize("text", ["\ud800", "a\udfff", "1\ud800b"])
def test_a_lone_surrogate_is_refused_though_the_pattern_cannot_say_so(text: str) -> None:
    assert subject_id_or_none(text) is None


@given(st.from_regex(SUBJECT_ID_PATTERN))
@settings(max_examples=500)
def test_whatever_a_generator_makes_from_the_pattern_is_accepted(text: str) -> None:
    assert check_subject_id(text) == text


@given(st.integers(min_value=-(10**70), max_value=10**70))
def test_an_integer_id_is_its_decimal_form_when_that_fits(number: int) -> None:
    text = str(number)

    assert subject_id_or_none(number) == (text if len(text) <= 64 else None)


@given(st.one_of(st.booleans(), st.floats(), st.none(), st.lists(st.integers())))
def test_nothing_but_an_integer_or_a_string_is_an_id(value: Any) -> None:
    assert subject_id_or_none(value) is None


@pytest.mark.parametrize("adapter", ["fastapi", "flask"])
@given(text=IDS)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_over_http_the_directory_gets_the_json_id_as_sent_or_nothing(
    make_portal: PortalFactory, directory: Directory, adapter: str, text: str
) -> None:
    portal = getattr(make_portal, "_property_portal", None)
    if portal is None:  # one portal per test, not per example
        portal = make_portal(rate_limit="100000/minute")
        make_portal._property_portal = portal  # type: ignore[attr-defined]
    client = mount(adapter, portal, portal.create_api_token(TENANT_A).token)
    before = len(directory.calls)

    reply = client.post(f"{API}/token", json={"type": "contact", "id": text})

    looked_up = [call[2] for call in directory.calls[before:]]
    if acceptable(text):
        assert reply.status in (200, 404)
        assert looked_up == [text]
    else:
        assert reply.status == 422
        assert looked_up == []


@pytest.mark.parametrize("adapter", ["fastapi", "flask"])
@given(text=IDS.filter(has_utf8_form))
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_over_http_the_directory_gets_the_path_id_as_sent_or_nothing(
    make_portal: PortalFactory, directory: Directory, adapter: str, text: str
) -> None:
    portal = getattr(make_portal, "_path_property_portal", None)
    if portal is None:  # one portal per test, not per example
        portal = make_portal(rate_limit="100000/minute")
        make_portal._path_property_portal = portal  # type: ignore[attr-defined]
    client = mount(adapter, portal, portal.create_api_token(TENANT_A).token)
    before = len(directory.calls)

    # Percent-encoded, dots too: a client removes "." and ".." segments.
    segment = quote(text, safe="").replace(".", "%2E")
    reply = client.post(f"{API}/contacts/{segment}/invite", json={})

    looked_up = [call[2] for call in directory.calls[before:]]
    if acceptable(text) and "/" not in text:
        assert re.search(SUBJECT_ID_PATH_PATTERN, text)
        assert reply.status in (200, 400, 404)
        assert looked_up == [text]
    else:
        # A "/" splits the path: no route (404), as the path pattern says.
        assert reply.status in (404, 422)
        assert looked_up == []
        assert not re.search(SUBJECT_ID_PATH_PATTERN, text)
