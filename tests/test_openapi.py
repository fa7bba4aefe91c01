"""The OpenAPI 3.1 document, built once in the core and served alike by both adapters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from client_portal_core import ClientPortal
from conftest import API, mount

PATHS = {
    f"{API}/config": "get",
    f"{API}/contacts/{{id}}/invite": "post",
    f"{API}/companies/{{id}}/invite": "post",
    f"{API}/token": "post",
}


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


def test_document_is_openapi_3_1_with_the_four_paths(documents: dict[str, bytes]) -> None:
    document = json.loads(documents["flask"])

    assert document["openapi"].startswith("3.1")
    assert {path: set(item) for path, item in document["paths"].items()} == {
        path: {method} for path, method in PATHS.items()
    }


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

    for path, method in PATHS.items():
        operation = document["paths"][path][method]
        assert {"200", "401", "429", "500"} <= set(operation["responses"]), path
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
