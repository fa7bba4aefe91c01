"""Edges of HTTP that the adapters must not answer on their own: any method
(made-up ones too) on any path under the API prefix or the portal path, doubled
slashes, repeated headers. Every such answer comes from the core, the same on
both adapters."""

from __future__ import annotations

import re

import pytest

from client_portal_core.http import ROUTES, group_by_path
from conftest import API, PORTAL, PortalClient

#: Methods no adapter registers by name.
ODD_METHODS = ["TRACE", "QUERY", "PROPFIND", "MKCOL", "FROBNICATE"]


def concrete(path: str) -> str:
    """A request path for a route path (``{id}`` -> ``1``, ``{token}`` -> ``abc``)."""
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: "1" if m[1] == "id" else "abc", path)


API_PATHS = [group for group in group_by_path(ROUTES) if group.kind == "api"]
PORTAL_PATHS = [group for group in group_by_path(ROUTES) if group.kind == "portal"]


@pytest.mark.parametrize("method", ODD_METHODS)
@pytest.mark.parametrize("group", API_PATHS, ids=lambda group: group.path)
def test_any_other_method_on_an_api_path_is_the_core_json_405(
    client: PortalClient, group: object, method: str
) -> None:
    path = API + concrete(group.path)  # type: ignore[attr-defined]

    reply = client.request(method, path)

    assert reply.status == 405
    assert reply.json() == {"message": "Method Not Allowed"}
    assert reply.headers["Allow"] == group.allow  # type: ignore[attr-defined]
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["X-RateLimit-Limit"] == "60"
    assert "X-RateLimit-Remaining" in reply.headers


@pytest.mark.parametrize("method", ODD_METHODS)
def test_any_other_method_authenticates_first(client: PortalClient, method: str) -> None:
    reply = client.request(method, f"{API}/config", auth=None)

    assert reply.status == 401
    assert reply.json() == {"message": "Unauthenticated."}
    assert reply.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("method", ODD_METHODS)
@pytest.mark.parametrize("group", PORTAL_PATHS, ids=lambda group: group.path)
def test_any_other_method_on_a_portal_path_is_the_html_405_page(
    client: PortalClient, group: object, method: str
) -> None:
    reply = client.request(method, PORTAL + concrete(group.path))  # type: ignore[attr-defined]

    assert reply.status == 405
    assert reply.headers["Allow"] == group.allow  # type: ignore[attr-defined]
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<!DOCTYPE html>" in reply.text


@pytest.mark.parametrize("method", ODD_METHODS)
@pytest.mark.parametrize("path", [f"{API}/nope", f"{API}/a/b/c", API, f"{API}/"])
def test_any_method_on_an_unknown_api_path_is_the_core_json_404(
    client: PortalClient, method: str, path: str
) -> None:
    reply = client.request(method, path)

    assert reply.status == 404
    assert reply.json() == {"message": "Not Found"}
    assert "X-RateLimit-Remaining" in reply.headers


def test_the_bare_portal_path_leads_to_the_home_page_which_asks_to_sign_in(
    client: PortalClient,
) -> None:
    bare = client.get(PORTAL)
    home = client.get(f"{PORTAL}/")

    assert (bare.status, bare.headers["Location"]) == (303, f"{PORTAL}/")
    assert home.status == 401
    assert home.headers["Content-Type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("method", ODD_METHODS)
@pytest.mark.parametrize("path", [PORTAL, f"{PORTAL}/"])
def test_any_other_method_on_the_bare_portal_path_is_the_html_405_page(
    client: PortalClient, method: str, path: str
) -> None:
    reply = client.request(method, path)

    assert reply.status == 405
    assert reply.headers["Allow"] == "GET, HEAD"
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("group", API_PATHS, ids=lambda group: group.path)
def test_allow_names_only_methods_that_work(client: PortalClient, group: object) -> None:
    path = API + concrete(group.path)  # type: ignore[attr-defined]
    allowed = client.request("TRACE", path).headers["Allow"].split(", ")

    statuses = {method: client.request(method, path).status for method in allowed}

    assert 405 not in statuses.values(), statuses


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{API}//config"),
        ("POST", f"{API}//token"),
        ("GET", f"{API}///config"),
        ("POST", f"{API}//contacts/1/invite"),
        ("POST", f"{API}/contacts//1/invite"),
        ("GET", f"{API}/config//"),
    ],
)
def test_doubled_slashes_under_the_prefix_are_the_json_404(
    client: PortalClient, method: str, path: str
) -> None:
    reply = client.request(method, path, json={"type": "contact", "id": 1})

    assert reply.status == 404
    assert reply.json() == {"message": "Not Found"}
    assert "Location" not in reply.headers
    assert client.request(method, path, auth=None).status == 401
