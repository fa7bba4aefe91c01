"""The OpenAPI document describes every constraint the server applies.

Each test here is a gap a schemathesis run over the example hosts found
(tests/test_fuzz_hosts.py): a pattern no ECMA-262 engine compiles (so
schema-driven clients dropped it), a 422 a list answered but did not
document, a configuration update schema without its fields' rules, a
webhook URL schema wider than the server's check, ``"yes"`` taken as true.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client_portal_core import ClientPortal
from client_portal_core.schemas import KNOWN_MODULES
from client_portal_core.validation import WEBHOOK_URL_PATTERN
from client_portal_core.webhooks._urls import InvalidWebhookEndpoint, check_webhook_url
from conftest import API, PortalClient, mount


@pytest.fixture
def document(portal: ClientPortal) -> dict[str, Any]:
    reply = mount("flask", portal).get(f"{API}/openapi.json")
    assert reply.status == 200
    parsed: dict[str, Any] = json.loads(reply.body)
    return parsed


def patterns(node: Any) -> Iterator[str]:
    """Every ``pattern`` anywhere in ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from patterns(item)


def test_every_pattern_is_an_ecma_262_regular_expression(document: dict[str, Any]) -> None:
    found = sorted(set(patterns(document)))

    assert len(found) >= 6
    for pattern in found:
        # jsonschema-rs checks patterns as ECMA-262 (JSON Schema's dialect);
        # a surrogate range such as \ud800-\udfff is refused.
        jsonschema_rs.validator_for({"type": "string", "pattern": pattern})


def test_every_operation_with_parameters_documents_its_422(document: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("parameters") and "422" not in operation["responses"]
    ]

    assert missing == []


def test_a_config_update_field_has_the_rule_of_the_config_field(
    document: dict[str, Any],
) -> None:
    fields = document["components"]["schemas"]["PortalConfigUpdate"]["properties"]

    assert fields["portal_name"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 120,
        "title": "Portal Name",
    }
    assert fields["is_active"]["type"] == "boolean"
    assert (
        fields["token_expiration_days"]["minimum"],
        fields["token_expiration_days"]["maximum"],
    ) == (
        1,
        365,
    )
    assert set(fields["enabled_modules"]["items"]["enum"]) == KNOWN_MODULES
    for name in ("primary_color", "secondary_color", "portal_logo", "reply_to"):
        assert "pattern" in fields[name], name
    (locale, none) = fields["locale"]["anyOf"]
    assert none == {"type": "null"}
    assert re.search(locale["pattern"], "de-AT")
    assert not re.search(locale["pattern"], "fr"), "only installed catalogs"


def test_webhook_urls_and_events_are_described(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("WebhookCreateRequest", "WebhookUpdateRequest"):
        fields = schemas[name]["properties"]
        assert fields["url"]["pattern"] == WEBHOOK_URL_PATTERN
        assert fields["events"]["minItems"] == 1
        assert "client_portal.token_created" in fields["events"]["items"]["enum"]


def accepted(url: str) -> bool:
    try:
        check_webhook_url(url, allow_private=True)
    except InvalidWebhookEndpoint:
        return False
    return True


URL_PARTS = st.sampled_from(
    ["http://", "HTTPS://", "ftp://", "http:/", "", "a", "[::1]", "[1:2]", "[v1.x]", ":80",
     ":99999", ":", "@", "u:p@", "/", "?q", "#f", " ", "\t", "é", "%41", "[", "]", "\\", "."]
)  # fmt: skip
URLS = st.one_of(
    st.from_regex(WEBHOOK_URL_PATTERN),
    st.lists(URL_PARTS, max_size=6).map("".join),
    st.text(max_size=30).map(lambda tail: "http://" + tail),
)


@given(URLS)
@settings(max_examples=500)
def test_a_webhook_url_is_accepted_exactly_when_its_pattern_matches(url: str) -> None:
    assert accepted(url) == (re.search(WEBHOOK_URL_PATTERN, url) is not None and len(url) <= 2048)


@pytest.mark.parametrize(
    "url", ["http://[::1]/hook", "https://hooks.example.com:8443/in?x=1#y", "HTTP://10.0.0.1"]
)
def test_ordinary_webhook_urls_match_the_pattern(url: str) -> None:
    assert accepted(url)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"is_active": "yes"}, id="string-for-boolean"),
        pytest.param({"show_activity_feed": 1}, id="number-for-boolean"),
        pytest.param({"token_expiration_days": "30"}, id="string-for-integer"),
        pytest.param({"portal_name": None}, id="null-name"),
    ],
)
def test_a_config_update_takes_json_types_as_documented(
    client: PortalClient, change: dict[str, Any]
) -> None:
    before = client.get(f"{API}/config").json()

    reply = client.request("PATCH", f"{API}/config", json=change)

    assert reply.status == 422
    assert set(reply.json()["errors"]) == set(change)
    assert client.get(f"{API}/config").json() == before
