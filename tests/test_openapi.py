"""The OpenAPI 3.1 document, built once in the core and served alike by both adapters."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from client_portal_core import ClientPortal
from client_portal_core.schemas import InviteRequest
from client_portal_core.validation import (
    CUSTOM_MESSAGE_PATTERN,
    MAX_CUSTOM_MESSAGE_LENGTH,
    MAX_INTEGER_SUBJECT_ID,
    MAX_SUBJECT_ID_LENGTH,
    MIN_INTEGER_SUBJECT_ID,
    SUBJECT_ID_PATH_PATTERN,
    SUBJECT_ID_PATTERN,
)
from conftest import API, mount

PATHS = {
    f"{API}/config": {"get", "patch"},
    f"{API}/contacts/{{id}}/invite": {"post"},
    f"{API}/companies/{{id}}/invite": {"post"},
    f"{API}/token": {"post"},
    f"{API}/token/revoke": {"post"},
    f"{API}/token/preview": {"post"},
    f"{API}/tokens": {"get"},
    f"{API}/tokens/renew": {"post"},
    f"{API}/invitations": {"get"},
    f"{API}/accesses": {"get"},
    f"{API}/invitations/{{invitation_id}}/retry": {"post"},
    f"{API}/webhooks": {"get", "post"},
    f"{API}/webhooks/{{id}}": {"patch", "delete"},
    f"{API}/webhooks/{{id}}/deliveries": {"get"},
    f"{API}/webhooks/{{id}}/deliveries/{{delivery_id}}/redeliver": {"post"},
    f"{API}/webhooks/{{id}}/rotate-secret": {"post"},
}


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in PATHS.items():
        for method in methods:
            yield path, method, document["paths"][path][method]


@pytest.fixture
def documents(portal: ClientPortal) -> dict[str, bytes]:
    replies = {
        name: mount(name, portal).get(f"{API}/openapi.json") for name in ("fastapi", "flask")
    }
    for reply in replies.values():
        assert reply.status == 200
        assert reply.headers["Content-Type"] == "application/json"
    return {name: reply.body for name, reply in replies.items()}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_both_adapters_serve_identical_bytes(documents: dict[str, bytes]) -> None:
    assert documents["fastapi"] == documents["flask"]


def test_document_is_openapi_3_1_with_every_path(documents: dict[str, bytes]) -> None:
    document = json.loads(documents["flask"])

    assert document["openapi"].startswith("3.1")
    assert {path: set(item) for path, item in document["paths"].items()} == PATHS


@pytest.mark.parametrize("adapter", ["fastapi", "flask"])
def test_served_document_is_valid_openapi_3_1(documents: dict[str, bytes], adapter: str) -> None:
    from openapi_spec_validator import OpenAPIV31SpecValidator, validate

    validate(json.loads(documents[adapter]), cls=OpenAPIV31SpecValidator)


def test_every_operation_states_its_scope(documents: dict[str, bytes]) -> None:
    from client_portal_core.scopes import OPERATION_SCOPES

    document = json.loads(documents["flask"])

    for path, method, operation in _operations(document):
        name = operation["operationId"].removeprefix("client_portal_")
        scope = OPERATION_SCOPES[name]
        assert scope is not None, path
        assert operation["x-required-scope"] == scope.value, path
        assert f"Requires the `{scope.value}` scope." in operation["description"], path
        assert "403" in operation["responses"], (path, method)
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_every_path_parameter_is_documented(documents: dict[str, bytes]) -> None:
    import re

    document = json.loads(documents["flask"])

    for path, method, operation in _operations(document):
        named = set(re.findall(r"{(\w+)}", path))
        documented = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert documented == named, (path, method)


def test_every_reference_resolves(documents: dict[str, bytes]) -> None:
    document = json.loads(documents["flask"])
    refs = set(_refs(document))

    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in document["components"]["schemas"]


def test_every_operation_documents_its_errors_and_security(
    documents: dict[str, bytes],
) -> None:
    document = json.loads(documents["flask"])

    for path, _method, operation in _operations(document):
        success = {"200", "201", "204"} & set(operation["responses"])
        assert len(success) == 1, path
        assert {"401", "403", "429", "500"} <= set(operation["responses"]), path
        assert "Retry-After" in operation["responses"]["429"]["headers"], path
        assert operation["security"] == [{"bearerAuth": []}]
    token = document["paths"][f"{API}/token"]["post"]["responses"]
    assert {"404", "422"} <= set(token)


def test_descriptions_are_markdown_not_docstring_markup(documents: dict[str, bytes]) -> None:
    assert b"``" not in documents["flask"]


def test_document_needs_no_authentication(portal: ClientPortal) -> None:
    assert mount("flask", portal).get(f"{API}/openapi.json", auth=None).status == 200


def test_fastapi_host_document_includes_the_portal_operations(portal: ClientPortal) -> None:
    from fastapi import FastAPI

    from client_portal_fastapi import create_router

    app = FastAPI()
    app.include_router(create_router(portal))

    operations = {
        op["operationId"] for item in app.openapi()["paths"].values() for op in item.values()
    }
    assert {
        "client_portal_get_config",
        "client_portal_invite_contact",
        "client_portal_invite_company",
        "client_portal_create_token",
    } <= operations


# -- every constraint the server applies is in the document -------------------------


def test_path_ids_document_the_rule_the_server_applies(documents: dict[str, bytes]) -> None:
    document = json.loads(documents["flask"])

    for path in (f"{API}/contacts/{{id}}/invite", f"{API}/companies/{{id}}/invite"):
        (parameter,) = document["paths"][path]["post"]["parameters"]
        assert parameter["schema"] == {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_SUBJECT_ID_LENGTH,
            "pattern": SUBJECT_ID_PATH_PATTERN,  # the JSON id's rule, less "/"
        }


def test_json_ids_document_integers_and_strings_with_their_limits(
    documents: dict[str, bytes],
) -> None:
    schemas = json.loads(documents["flask"])["components"]["schemas"]

    integer, string = schemas["TokenRequest"]["properties"]["id"]["anyOf"]
    assert integer == {
        "type": "integer",
        "minimum": MIN_INTEGER_SUBJECT_ID,
        "maximum": MAX_INTEGER_SUBJECT_ID,
    }
    assert string == {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_SUBJECT_ID_LENGTH,
        "pattern": SUBJECT_ID_PATTERN,
    }
    assert len(str(MAX_INTEGER_SUBJECT_ID)) == len(str(MIN_INTEGER_SUBJECT_ID)) == 64


def test_custom_message_documents_its_length_and_characters(documents: dict[str, bytes]) -> None:
    schemas = json.loads(documents["flask"])["components"]["schemas"]

    message = schemas["InviteRequest"]["properties"]["custom_message"]
    assert message["maxLength"] == MAX_CUSTOM_MESSAGE_LENGTH
    assert message["pattern"] == CUSTOM_MESSAGE_PATTERN
    assert {"type": "null"} in message["anyOf"]


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("Hello\n\tthere", True),
        ("x" * 2000, True),
        ("bell \x07", False),
        ("nul \x00", False),
        ("\u202eevil", False),
        ("C1 \x85", False),
    ],
)
def test_the_custom_message_pattern_accepts_what_the_server_accepts(
    text: str, accepted: bool
) -> None:
    try:
        InviteRequest.model_validate({"custom_message": text})
        server_accepts = True
    except ValidationError:
        server_accepts = False

    assert server_accepts == accepted
    assert (re.search(CUSTOM_MESSAGE_PATTERN, text) is not None) == accepted
