"""The OpenAPI 3.1 document, built once in the core and served alike by both adapters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from client_portal_core import ClientPortal
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
