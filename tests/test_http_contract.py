"""DESIGN.md's HTTP contract, row by row, on every adapter and database."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from client_portal_core import ClientPortal, token_accessed, token_created
from client_portal_core.tokens import PortalTokenCodec
from conftest import (
    API,
    PORTAL,
    SECRET_KEY,
    START,
    TENANT_A,
    TENANT_B,
    Directory,
    FakeClock,
    HostKeys,
    PortalClient,
)

DEFAULT_CONFIG = {
    "portal_name": "Client Portal",
    "portal_logo": None,
    "primary_color": "#3B82F6",
    "secondary_color": "#1E40AF",
    "welcome_message": "Welcome to your client portal.",
    "enabled_modules": ["invoices", "proposals", "tasks"],
    "is_active": True,
    "allow_file_sharing": True,
    "show_activity_feed": True,
    "token_expiration_days": 30,
    "reply_to": None,
    "locale": None,
}
UNAUTHENTICATED = {"message": "Unauthenticated."}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_token(client: PortalClient, kind: str = "contact", subject: Any = 1) -> dict[str, Any]:
    reply = client.post(f"{API}/token", json={"type": kind, "id": subject})
    assert reply.status == 200, reply.body
    return dict(reply.json())


# -- GET /config --------------------------------------------------------------


def test_config_answers_the_documented_defaults_exactly(client: PortalClient) -> None:
    reply = client.get(f"{API}/config")

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == {"data": DEFAULT_CONFIG}
    assert list(reply.json()["data"]) == list(DEFAULT_CONFIG)


def test_config_reflects_update_config_for_that_tenant_only(
    client: PortalClient, portal: ClientPortal, api_token_b: str
) -> None:
    portal.update_config(
        TENANT_A, portal_name="Acme Portal", primary_color="#ff0000", enabled_modules=["files"]
    )

    data = client.get(f"{API}/config").json()["data"]
    other = client.as_token(api_token_b).get(f"{API}/config").json()["data"]

    assert data == {
        **DEFAULT_CONFIG,
        "portal_name": "Acme Portal",
        "primary_color": "#FF0000",
        "enabled_modules": ["files"],
    }
    assert other == DEFAULT_CONFIG


# -- authentication -----------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("Bearer", id="bearer-without-credential"),
        pytest.param("Basic dXNlcjpwYXNz", id="wrong-scheme"),
        pytest.param("Token cpk_abc", id="other-scheme"),
        pytest.param("Bearer cpk_not-a-real-token", id="unknown-library-token"),
        pytest.param("Bearer someone-elses-key", id="unknown-foreign-key"),
    ],
)
def test_bad_credentials_answer_401_json(client: PortalClient, authorization: str | None) -> None:
    reply = client.get(f"{API}/config", auth=authorization)

    assert reply.status == 401
    assert reply.json() == UNAUTHENTICATED
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["WWW-Authenticate"] == "Bearer"


def test_bearer_scheme_is_case_insensitive(client: PortalClient, api_token: str) -> None:
    assert client.get(f"{API}/config", auth=f"bearer {api_token}").status == 200


def test_revoked_api_token_answers_401(client: PortalClient, portal: ClientPortal) -> None:
    issued = portal.create_api_token(TENANT_A, name="ci")
    as_ci = client.as_token(issued.token)
    assert as_ci.get(f"{API}/config").status == 200

    assert portal.revoke_api_token(TENANT_A, issued.id) is True

    reply = as_ci.get(f"{API}/config")
    assert reply.status == 401
    assert reply.json() == UNAUTHENTICATED


def test_api_token_cannot_be_revoked_by_another_tenant(
    client: PortalClient, portal: ClientPortal
) -> None:
    issued = portal.create_api_token(TENANT_A)

    assert portal.revoke_api_token(TENANT_B, issued.id) is False
    assert client.as_token(issued.token).get(f"{API}/config").status == 200


def test_every_api_route_requires_authentication(client: PortalClient) -> None:
    for method, path in [
        ("GET", f"{API}/config"),
        ("POST", f"{API}/contacts/1/invite"),
        ("POST", f"{API}/companies/10/invite"),
        ("POST", f"{API}/token"),
    ]:
        reply = client.request(method, path, json={"type": "contact", "id": 1}, auth=None)
        assert (path, reply.status, reply.json()) == (path, 401, UNAUTHENTICATED)


def test_host_authenticate_plugin_maps_its_own_keys_to_tenants(
    make_portal: Any, make_client: Any, directory: Directory
) -> None:
    portal = make_portal(plugins=(directory, HostKeys()))
    client = make_client(portal, "host-key-b")

    assert client.get(f"{API}/config").status == 200
    assert client.post(f"{API}/token", json={"type": "contact", "id": 3}).status == 200
    assert client.post(f"{API}/token", json={"type": "contact", "id": 1}).status == 404
    assert client.as_token("host-key-c").get(f"{API}/config").status == 401


def test_library_tokens_keep_working_next_to_a_host_authenticate_plugin(
    make_portal: Any, make_client: Any, directory: Directory
) -> None:
    portal = make_portal(plugins=(directory, HostKeys()))
    token = portal.create_api_token(TENANT_A).token

    assert make_client(portal, token).get(f"{API}/config").status == 200


# -- POST /token --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "subject"),
    [
        pytest.param("contact", 1, id="contact-int-id"),
        pytest.param("contact", "1", id="contact-int-id-as-string"),
        pytest.param("contact", "c-7f3e", id="contact-string-id"),
        pytest.param("company", 10, id="company-int-id"),
        pytest.param("company", "co-acme-2", id="company-string-id"),
        pytest.param("contact", 2, id="contact-without-email"),
        pytest.param("company", 11, id="company-without-email"),
    ],
)
def test_token_is_issued_for_contacts_and_companies(
    client: PortalClient, kind: str, subject: Any
) -> None:
    body = new_token(client, kind, subject)

    assert set(body) == {"token", "url", "expires_at"}
    assert body["url"] == f"https://portal.example.test{PORTAL}/{body['token']}"
    assert body["expires_at"] == iso(START + timedelta(days=30))


def test_int_and_string_ids_name_the_same_subject(client: PortalClient) -> None:
    assert new_token(client, "contact", 1) == new_token(client, "contact", "1")


def test_token_is_the_same_while_valid(client: PortalClient, clock: FakeClock) -> None:
    first = new_token(client)
    clock.advance(days=29, hours=23, minutes=59)

    assert new_token(client) == first


def test_token_expires_token_expiration_days_after_creation_in_iso_utc(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    portal.update_config(TENANT_A, token_expiration_days=7)
    clock.advance(hours=3, seconds=25)

    body = new_token(client)

    assert body["expires_at"] == iso(START + timedelta(days=7, hours=3, seconds=25))
    assert body["expires_at"].endswith("Z")


def test_new_token_after_expiry_fires_token_created_once(
    client: PortalClient, clock: FakeClock, listen: Any
) -> None:
    created = listen(token_created)
    first = new_token(client)
    clock.advance(days=30)

    second = new_token(client)
    third = new_token(client)

    assert second["token"] != first["token"]
    assert second == third
    assert second["expires_at"] == iso(START + timedelta(days=60))
    assert len(created.calls) == 2


def test_token_created_signal_carries_the_documented_kwargs(
    client: PortalClient, listen: Any
) -> None:
    created = listen(token_created)

    new_token(client, "company", "co-acme-2")

    (kwargs,) = created.calls
    assert set(kwargs) == {
        "tenant_id",
        "token_id",
        "subject_type",
        "subject_id",
        "created_at",
        "expires_at",
    }
    assert kwargs["tenant_id"] == TENANT_A
    assert (kwargs["subject_type"], kwargs["subject_id"]) == ("company", "co-acme-2")
    assert kwargs["created_at"] == START
    assert kwargs["expires_at"] == START + timedelta(days=30)


def test_token_for_unknown_subject_is_404(client: PortalClient) -> None:
    contact = client.post(f"{API}/token", json={"type": "contact", "id": 999})
    company = client.post(f"{API}/token", json={"type": "company", "id": "nope"})

    assert (contact.status, contact.json()) == (404, {"message": "Contact not found"})
    assert (company.status, company.json()) == (404, {"message": "Company not found"})


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        pytest.param({"type": "contact", "id": True}, {"id"}, id="id-bool"),
        pytest.param({"type": "contact", "id": 1.5}, {"id"}, id="id-float"),
        pytest.param({"type": "contact", "id": [1]}, {"id"}, id="id-list"),
        pytest.param({"type": "contact", "id": {"a": 1}}, {"id"}, id="id-object"),
        pytest.param({"type": "contact", "id": None}, {"id"}, id="id-null"),
        pytest.param({"type": "contact", "id": ""}, {"id"}, id="id-empty"),
        pytest.param({"type": "contact", "id": "x" * 65}, {"id"}, id="id-too-long"),
        pytest.param({"type": "contact", "id": "a\nb"}, {"id"}, id="id-control-character"),
        pytest.param({"type": "person", "id": 1}, {"type"}, id="type-unknown"),
        pytest.param({"type": 1, "id": 1}, {"type"}, id="type-number"),
        pytest.param({"id": 1}, {"type"}, id="type-missing"),
        pytest.param({"type": "contact"}, {"id"}, id="id-missing"),
        pytest.param({}, {"type", "id"}, id="empty-object"),
    ],
)
def test_token_body_of_the_wrong_shape_is_422_per_field(
    client: PortalClient, payload: dict[str, Any], errors: set[str]
) -> None:
    reply = client.post(f"{API}/token", json=payload)

    assert reply.status == 422
    body = reply.json()
    assert set(body) == {"message", "errors"}
    assert isinstance(body["message"], str)
    assert body["message"]
    assert set(body["errors"]) == errors
    for messages in body["errors"].values():
        assert messages
        assert all(isinstance(m, str) and m for m in messages)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param([{"type": "contact", "id": 1}], id="array"),
        pytest.param("contact", id="string"),
        pytest.param(42, id="number"),
        pytest.param(None, id="null"),
    ],
)
def test_token_body_that_is_not_an_object_is_422(client: PortalClient, payload: Any) -> None:
    reply = client.post(f"{API}/token", json=payload)

    assert reply.status == 422
    assert reply.json()["errors"] == {"body": ["must be a JSON object"]}


@pytest.mark.parametrize("body", [b"", b"   \n"], ids=["empty", "whitespace"])
def test_token_with_empty_body_is_422(client: PortalClient, body: bytes) -> None:
    reply = client.post(f"{API}/token", body=body, content_type="application/json")

    assert reply.status == 422
    assert set(reply.json()["errors"]) == {"type", "id"}


def test_token_with_empty_body_and_no_content_type_is_422(client: PortalClient) -> None:
    reply = client.post(f"{API}/token")

    assert reply.status == 422


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"type": "contact", "id": 1', id="truncated"),
        pytest.param(b"{'type': 'contact'}", id="single-quotes"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b"[" * 10_000 + b"]" * 10_000, id="deeply-nested"),
    ],
)
def test_malformed_json_is_400(client: PortalClient, body: bytes) -> None:
    reply = client.post(f"{API}/token", body=body, content_type="application/json")

    assert reply.status == 400
    assert reply.json() == {"message": "Malformed JSON body"}


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("text/plain", id="text"),
        pytest.param("application/x-www-form-urlencoded", id="form"),
        pytest.param("multipart/form-data; boundary=x", id="multipart"),
        pytest.param(None, id="missing"),
    ],
)
def test_body_with_a_non_json_content_type_is_415(
    client: PortalClient, content_type: str | None
) -> None:
    reply = client.post(
        f"{API}/token", body=b'{"type": "contact", "id": 1}', content_type=content_type
    )

    assert reply.status == 415
    assert reply.json() == {"message": "Content-Type must be application/json"}


def test_several_content_types_joined_by_the_adapter_are_415(
    client: PortalClient, portal: ClientPortal
) -> None:
    # What a WSGI server makes of two Content-Type headers, and what the
    # FastAPI adapter passes for them: refused, never a guess at which counts.
    reply = client.post(
        f"{API}/token",
        body=b'{"type": "contact", "id": 1}',
        content_type="application/json, application/json",
    )

    assert reply.status == 415
    assert reply.json() == {"message": "Content-Type must be application/json"}


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"],
)
def test_json_content_type_variants_are_accepted(client: PortalClient, content_type: str) -> None:
    reply = client.post(
        f"{API}/token", body=b'{"type": "contact", "id": 1}', content_type=content_type
    )

    assert reply.status == 200


@pytest.mark.parametrize("path", [f"{API}/token", f"{API}/contacts/1/invite"])
def test_body_over_the_limit_is_413(client: PortalClient, path: str) -> None:
    oversized = {"type": "contact", "id": 1, "custom_message": "x" * (70 * 1024)}

    reply = client.post(path, json=oversized)

    assert reply.status == 413
    assert reply.json() == {"message": "Request body too large"}


# -- invitations --------------------------------------------------------------


def test_invite_contact_sends_and_answers_the_token(
    client: PortalClient, portal: ClientPortal
) -> None:
    reply = client.post(f"{API}/contacts/1/invite", json={"custom_message": "Hello Ann"})

    assert reply.status == 200
    body = reply.json()
    assert body["message"] == "Portal invitation sent successfully"
    assert set(body) == {"message", "token"}
    (sent,) = portal.mailer.outbox  # type: ignore[attr-defined]
    assert sent.to == "ann@example.com"
    assert body["token"] in sent.text
    assert "Hello Ann" in sent.text


def test_invite_company_sends_to_the_company_address(
    client: PortalClient, portal: ClientPortal
) -> None:
    reply = client.post(f"{API}/companies/co-acme-2/invite")

    assert reply.status == 200
    assert [m.to for m in portal.mailer.outbox] == ["two@acme.example"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(None, None, id="no-body"),
        pytest.param(b"{}", "application/json", id="empty-object"),
        pytest.param(b'{"custom_message": null}', "application/json", id="null-message"),
    ],
)
def test_invite_body_is_optional(
    client: PortalClient, portal: ClientPortal, body: bytes | None, content_type: str | None
) -> None:
    reply = client.post(f"{API}/contacts/1/invite", body=body, content_type=content_type)

    assert reply.status == 200
    (sent,) = portal.mailer.outbox  # type: ignore[attr-defined]
    assert (sent.to, reply.json()["token"] in sent.text) == ("ann@example.com", True)
    (record,) = portal.list_invitations(TENANT_A)
    assert (record.status, record.custom_message) == ("sent", None)


def test_invite_and_token_share_the_subjects_valid_token(client: PortalClient) -> None:
    issued = new_token(client)

    invited = client.post(f"{API}/contacts/1/invite").json()

    assert invited["token"] == issued["token"]


def test_invite_records_the_sent_invitation(client: PortalClient, portal: ClientPortal) -> None:
    client.post(f"{API}/companies/10/invite", json={"custom_message": "Hi"})

    (record,) = portal.list_invitations(TENANT_A)
    assert (record.subject_type, record.subject_id, record.email) == (
        "company",
        "10",
        "billing@acme.example",
    )
    assert (record.status, record.error, record.custom_message) == ("sent", None, "Hi")
    assert record.sent_at == START


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param(f"{API}/contacts/2/invite", "Contact does not have an email address", id="c"),
        pytest.param(
            f"{API}/companies/11/invite", "Company does not have an email address", id="co"
        ),
    ],
)
def test_invite_without_email_is_400(
    client: PortalClient, portal: ClientPortal, path: str, message: str
) -> None:
    reply = client.post(path)

    assert (reply.status, reply.json()) == (400, {"message": message})
    assert portal.mailer.outbox == []  # type: ignore[attr-defined]
    assert portal.list_invitations(TENANT_A) == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param(f"{API}/contacts/999/invite", "Contact not found", id="contact"),
        pytest.param(f"{API}/companies/999/invite", "Company not found", id="company"),
        pytest.param(f"{API}/contacts/{'9' * 80}/invite", "Contact not found", id="id-too-long"),
        pytest.param(f"{API}/contacts/%20/invite", "Contact not found", id="id-blank"),
    ],
)
def test_invite_unknown_subject_is_404(client: PortalClient, path: str, message: str) -> None:
    reply = client.post(path)

    assert (reply.status, reply.json()) == (404, {"message": message})


def test_invite_with_a_non_string_custom_message_is_422(client: PortalClient) -> None:
    reply = client.post(f"{API}/contacts/1/invite", json={"custom_message": ["x"]})

    assert reply.status == 422
    assert set(reply.json()["errors"]) == {"custom_message"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"custom_message": "a\\u0000b"}', id="nul"),
        pytest.param(b'{"custom_message": "bell\\u0007"}', id="control"),
        pytest.param(b'{"custom_message": "\\ud800"}', id="lone-surrogate"),
    ],
)
def test_invite_with_control_characters_in_the_message_is_422(
    client: PortalClient, body: bytes
) -> None:
    # The same answer on every database (PostgreSQL cannot even store NUL).
    reply = client.post(f"{API}/contacts/1/invite", body=body, content_type="application/json")

    assert reply.status == 422
    assert set(reply.json()["errors"]) == {"custom_message"}


def test_invite_message_keeps_line_breaks_and_tabs(
    client: PortalClient, portal: ClientPortal
) -> None:
    reply = client.post(f"{API}/contacts/1/invite", json={"custom_message": "Hi,\r\n\tsee you"})

    assert reply.status == 200
    (record,) = portal.list_invitations(TENANT_A)
    assert record.custom_message == "Hi,\r\n\tsee you"
    (sent,) = portal.mailer.outbox  # type: ignore[attr-defined]
    assert "\n\nHi,\r\n\tsee you\n\n" in sent.text
    assert ">Hi,\r\n\tsee you</p>" in sent.html


def test_token_for_an_id_with_a_lone_surrogate_is_422(client: PortalClient) -> None:
    reply = client.post(
        f"{API}/token",
        body=b'{"type": "contact", "id": "\\udc80"}',
        content_type="application/json",
    )

    assert reply.status == 422
    assert set(reply.json()["errors"]) == {"id"}


def test_invite_with_malformed_json_is_400(client: PortalClient) -> None:
    reply = client.post(f"{API}/contacts/1/invite", body=b"{oops", content_type="application/json")

    assert (reply.status, reply.json()) == (400, {"message": "Malformed JSON body"})


def test_invite_with_a_form_body_is_415(client: PortalClient) -> None:
    reply = client.post(
        f"{API}/contacts/1/invite",
        body=b"custom_message=hi",
        content_type="application/x-www-form-urlencoded",
    )

    assert reply.status == 415


def test_failed_mailer_is_500_with_reason_and_recorded(make_portal: Any, make_client: Any) -> None:
    from client_portal_core import MemoryMailer

    portal = make_portal(mailer=MemoryMailer(fail_with="mailbox full"))
    client = make_client(portal, portal.create_api_token(TENANT_A).token)

    reply = client.post(f"{API}/contacts/1/invite")

    assert (reply.status, reply.json()) == (
        500,
        {"message": "Failed to send portal invitation: mailbox full"},
    )
    (record,) = portal.list_invitations(TENANT_A)
    assert (record.status, record.error) == ("failed", "mailbox full")


# -- tenants ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        pytest.param("POST", f"{API}/token", {"type": "contact", "id": 3}, id="token-contact"),
        pytest.param("POST", f"{API}/token", {"type": "company", "id": 20}, id="token-company"),
        pytest.param("POST", f"{API}/contacts/3/invite", None, id="invite-contact"),
        pytest.param("POST", f"{API}/contacts/4/invite", None, id="invite-contact-no-email"),
        pytest.param("POST", f"{API}/companies/20/invite", None, id="invite-company"),
    ],
)
def test_tenant_a_cannot_reach_tenant_b_subjects(
    client: PortalClient, portal: ClientPortal, method: str, path: str, payload: Any
) -> None:
    reply = client.request(method, path, json=payload) if payload else client.post(path)

    assert reply.status == 404
    assert reply.json()["message"] in {"Contact not found", "Company not found"}
    assert portal.mailer.outbox == []  # type: ignore[attr-defined]


def test_same_subject_id_in_two_tenants_gets_two_tokens(
    client: PortalClient, portal: ClientPortal, api_token_b: str
) -> None:
    as_b = client.as_token(api_token_b)

    token_a = new_token(client, "contact", "shared-1")["token"]
    token_b = new_token(as_b, "contact", "shared-1")["token"]
    invited_b = as_b.post(f"{API}/contacts/shared-1/invite").json()["token"]

    assert token_a != token_b
    assert invited_b == token_b
    assert [m.to for m in portal.mailer.outbox] == ["sam.b@example.org"]  # type: ignore[attr-defined]


def test_tenant_b_cannot_retry_or_revoke_tenant_a_records(
    client: PortalClient, portal: ClientPortal
) -> None:
    from client_portal_core.errors import NotFound

    client.post(f"{API}/contacts/1/invite")
    (record,) = portal.list_invitations(TENANT_A)

    with pytest.raises(NotFound):
        portal.retry_invitation(TENANT_B, record.id)
    assert portal.revoke_token(TENANT_B, record.portal_token_id) is False

    assert portal.list_invitations(TENANT_B) == []
    assert portal.list_invitations(TENANT_A) == [record]  # not retried
    assert len(portal.mailer.outbox) == 1  # type: ignore[attr-defined]
    token = portal.token_store.get_token(TENANT_A, record.portal_token_id)
    assert token is not None
    assert token.revoked_at is None


# -- the portal page ----------------------------------------------------------


def test_portal_page_is_branded_html(client: PortalClient, portal: ClientPortal) -> None:
    portal.update_config(
        TENANT_A,
        portal_name="Acme Client Hub",
        primary_color="#123456",
        secondary_color="#ABCDEF",
        welcome_message="Hello from Acme",
        enabled_modules=["invoices", "tickets"],
    )
    token = new_token(client)["token"]

    reply = client.browser().visit(f"{PORTAL}/{token}")

    assert (reply.status, reply.path) == (200, f"{PORTAL}/")
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    for expected in ("Acme Client Hub", "#123456", "#ABCDEF", "Hello from Acme", "Ann Archer"):
        assert expected in reply.text
    assert 'data-module="invoices"' in reply.text
    assert 'data-module="tickets"' in reply.text
    assert 'data-module="proposals"' not in reply.text


def test_portal_page_escapes_config_strings(client: PortalClient, portal: ClientPortal) -> None:
    portal.update_config(
        TENANT_A,
        portal_name="<script>alert('name')</script>",
        welcome_message='<img src=x onerror="alert(1)">',
    )
    token = new_token(client)["token"]

    html = client.browser().visit(f"{PORTAL}/{token}").text

    assert "<script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;img src=x" in html


def test_portal_page_fires_token_accessed_with_documented_kwargs(
    client: PortalClient, listen: Any
) -> None:
    accessed = listen(token_accessed)
    issued = new_token(client, "company", 10)

    client.get(f"{PORTAL}/{issued['token']}")

    (kwargs,) = accessed.calls
    assert set(kwargs) == {
        "tenant_id",
        "token_id",
        "subject_type",
        "subject_id",
        "accessed_at",
        "ip",
        "user_agent",
    }
    assert (kwargs["tenant_id"], kwargs["subject_type"], kwargs["subject_id"]) == (
        TENANT_A,
        "company",
        "10",
    )
    assert kwargs["accessed_at"] == START
    assert kwargs["user_agent"] == "portal-tests/1.0"
    assert isinstance(kwargs["ip"], str)
    assert kwargs["ip"]
    assert isinstance(kwargs["token_id"], int)


def test_portal_page_counts_accesses(client: PortalClient, portal: ClientPortal) -> None:
    issued = portal.get_or_create_token(TENANT_A, "contact", 1)

    for _ in range(3):
        assert client.get(f"{PORTAL}/{issued.token}").status == 303

    row = portal.token_store.get_token(TENANT_A, issued.token_id)
    assert row is not None
    assert (row.access_count, row.last_accessed_at) == (3, START)


def test_head_on_a_portal_link_checks_it_without_counting_an_access(
    client: PortalClient, portal: ClientPortal, listen: Any
) -> None:
    # Mail scanners and link previews probe links with HEAD: that is not a visit.
    accessed = listen(token_accessed)
    issued = portal.get_or_create_token(TENANT_A, "contact", 1)

    reply = client.request("HEAD", f"{PORTAL}/{issued.token}")

    assert reply.status == 303
    assert reply.body == b""
    assert "Set-Cookie" not in reply.headers
    row = portal.token_store.get_token(TENANT_A, issued.token_id)
    assert row is not None
    assert (row.access_count, row.last_accessed_at) == (0, None)
    assert accessed.calls == []


def tampered(token: str) -> str:
    """The token with the first signature character changed.

    (Not the last one: base64's final character has unused bits, so some
    changes to it decode to the same signature.)
    """
    token_id, signature = token.split(".")
    first = "A" if signature[0] != "A" else "B"
    return f"{token_id}.{first}{signature[1:]}"


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(tampered, id="tampered-signature"),
        pytest.param(lambda t: t.split(".")[0] + ".x", id="wrong-signature"),
        pytest.param(lambda t: t.split(".")[0], id="unsigned-id"),
        pytest.param(lambda t: "Z" + t, id="tampered-id"),
        pytest.param(lambda t: "not-a-token", id="garbage"),
        pytest.param(lambda t: "x" * 300, id="very-long"),
        pytest.param(lambda t: "%C3%A9t%C3%A9.abc", id="non-ascii"),
        pytest.param(
            lambda t: PortalTokenCodec([SECRET_KEY.encode()]).mint().token, id="signed-but-unknown"
        ),
        pytest.param(
            lambda t: PortalTokenCodec([b"another-secret-key-000000"]).mint().token,
            id="other-key",
        ),
    ],
)
def test_invalid_portal_token_is_404_html(client: PortalClient, mangle: Any) -> None:
    token = new_token(client)["token"]

    reply = client.get(f"{PORTAL}/{mangle(token)}")

    assert reply.status == 404
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "not valid" in reply.text


def test_revoked_portal_token_is_404(client: PortalClient, portal: ClientPortal) -> None:
    issued = portal.get_or_create_token(TENANT_A, "contact", 1)
    assert client.get(f"{PORTAL}/{issued.token}").status == 303

    assert portal.revoke_token(TENANT_A, issued.token_id) is True

    assert client.get(f"{PORTAL}/{issued.token}").status == 404
    assert new_token(client)["token"] != issued.token


def test_portal_of_a_subject_the_host_deleted_is_404(
    client: PortalClient,
    portal: ClientPortal,
    monkeypatch: pytest.MonkeyPatch,
    directory_entries: Any,
) -> None:
    issued = portal.get_or_create_token(TENANT_A, "contact", 1)
    monkeypatch.delitem(directory_entries[(TENANT_A, "contact")], "1")

    reply = client.get(f"{PORTAL}/{issued.token}")

    assert reply.status == 404
    assert "not valid" in reply.text
    stored = portal.verify_token(issued.token)
    assert (stored.access_count, stored.last_accessed_at) == (0, None)


def test_expired_portal_token_is_410_html(client: PortalClient, clock: FakeClock) -> None:
    token = new_token(client)["token"]
    clock.advance(days=30)

    reply = client.get(f"{PORTAL}/{token}")

    assert reply.status == 410
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "expired" in reply.text


def test_replaced_token_still_answers_410_not_404(client: PortalClient, clock: FakeClock) -> None:
    old = new_token(client)["token"]
    clock.advance(days=31)
    new = new_token(client)["token"]

    assert client.get(f"{PORTAL}/{old}").status == 410
    assert client.get(f"{PORTAL}/{new}").status == 303


def test_inactive_portal_is_403_html(client: PortalClient, portal: ClientPortal) -> None:
    token = new_token(client)["token"]
    portal.update_config(TENANT_A, is_active=False)

    reply = client.get(f"{PORTAL}/{token}")

    assert reply.status == 403
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"


def test_invalid_portal_link_does_not_fire_token_accessed(
    client: PortalClient, clock: FakeClock, listen: Any
) -> None:
    accessed = listen(token_accessed)
    token = new_token(client)["token"]

    client.get(f"{PORTAL}/{tampered(token)}")
    clock.advance(days=31)
    client.get(f"{PORTAL}/{token}")

    assert accessed.calls == []


# -- signals never break requests ---------------------------------------------


def test_receivers_that_raise_do_not_break_requests(
    client: PortalClient, portal: ClientPortal, listen: Any
) -> None:
    from client_portal_core import invitation_sent

    def explode(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    hooked = [(signal, explode) for signal in (token_created, token_accessed, invitation_sent)]
    for signal, receiver in hooked:
        signal.connect(receiver, sender=portal, weak=False)
    try:
        invited = client.post(f"{API}/contacts/1/invite")
        page = client.get(f"{PORTAL}/{invited.json()['token']}")
    finally:
        for signal, receiver in hooked:
            signal.disconnect(receiver, sender=portal)

    assert invited.status == 200
    assert page.status == 303
    (record,) = portal.list_invitations(TENANT_A)
    assert record.status == "sent"


# -- 405 and unexpected failures ------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param("POST", f"{API}/config", "GET, HEAD, PATCH", id="config"),
        pytest.param("GET", f"{API}/token", "POST", id="token"),
        pytest.param("DELETE", f"{API}/contacts/1/invite", "POST", id="invite"),
        pytest.param("OPTIONS", f"{API}/token", "POST", id="options"),
        pytest.param("HEAD", f"{API}/token", "POST", id="head-on-post"),
    ],
)
def test_wrong_method_is_405_json_with_allow(
    client: PortalClient, method: str, path: str, allow: str
) -> None:
    reply = client.request(method, path)

    assert reply.status == 405
    assert reply.headers["Allow"] == allow
    assert reply.headers["Cache-Control"] == "no-store"
    assert "X-RateLimit-Remaining" in reply.headers
    if method != "HEAD":
        assert reply.json() == {"message": "Method Not Allowed"}


def test_wrong_method_without_credentials_is_401_first(client: PortalClient) -> None:
    reply = client.request("PUT", f"{API}/config", auth=None)

    assert reply.status == 401
    assert reply.json() == {"message": "Unauthenticated."}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_wrong_method_on_the_portal_route_is_an_html_405(client: PortalClient, method: str) -> None:
    reply = client.request(method, f"{PORTAL}/abc")

    assert reply.status == 405
    assert reply.headers["Allow"] == "GET, HEAD"
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<!DOCTYPE html>" in reply.text


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(f"{API}/nope", id="unknown"),
        pytest.param(f"{API}/contacts/1", id="partial"),
        pytest.param(f"{API}/widgets/1/invite", id="unknown-kind"),
        pytest.param(f"{API}/config/", id="trailing-slash"),
        pytest.param(f"{API}/token/", id="trailing-slash-post"),
        pytest.param(f"{API}/a/b/c/d", id="deep"),
        pytest.param(API, id="prefix"),
        pytest.param(f"{API}/", id="prefix-slash"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_api_paths_are_json_404_with_rate_limit_headers(
    client: PortalClient, path: str, method: str
) -> None:
    reply = client.request(method, path)

    assert reply.status == 404
    assert reply.json() == {"message": "Not Found"}
    assert reply.headers["Content-Type"] == "application/json"
    assert "X-RateLimit-Remaining" in reply.headers
    assert client.request(method, path, auth=None).status == 401


def test_the_bare_portal_path_redirects_to_the_home_page(client: PortalClient) -> None:
    reply = client.get(PORTAL)

    assert reply.status == 303
    assert reply.headers["Location"] == f"{PORTAL}/"


def test_head_is_answered_like_get_without_a_body(client: PortalClient) -> None:
    get = client.get(f"{API}/config")
    head = client.request("HEAD", f"{API}/config")

    assert (get.status, head.status) == (200, 200)
    assert get.body
    assert head.body == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert (
        int(head.headers["X-RateLimit-Remaining"]) == int(get.headers["X-RateLimit-Remaining"]) - 1
    )


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        pytest.param("POST", f"{API}/token", {"type": "contact", "id": 1}, id="token"),
        pytest.param("POST", f"{API}/contacts/1/invite", {}, id="invite"),
    ],
)
def test_unexpected_failure_is_500_server_error_without_internals(
    client: PortalClient, directory: Directory, method: str, path: str, payload: Any
) -> None:
    directory.broken = True

    reply = client.request(method, path, json=payload)

    assert reply.status == 500
    assert reply.json() == {"message": "Server Error"}
    assert_no_internals(reply.body)


def test_unexpected_failure_on_the_portal_page_is_a_500_page_without_internals(
    client: PortalClient, directory: Directory
) -> None:
    token = new_token(client)["token"]
    directory.broken = True

    reply = client.get(f"{PORTAL}/{token}")

    assert reply.status == 500
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert_no_internals(reply.body)


def test_server_keeps_serving_after_a_500(client: PortalClient, directory: Directory) -> None:
    directory.broken = True
    assert client.post(f"{API}/token", json={"type": "contact", "id": 1}).status == 500
    directory.broken = False

    assert client.post(f"{API}/token", json={"type": "contact", "id": 1}).status == 200


def assert_no_internals(body: bytes) -> None:
    text = body.decode()
    for leak in ("Traceback", "RuntimeError", "hunter2", "/srv/host", ".py", 'File "'):
        assert leak not in text


# -- rate-limit headers on every API response -----------------------------------


def test_every_api_response_carries_rate_limit_headers(
    client: PortalClient, directory: Directory
) -> None:
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"{API}/config", {}),
        ("POST", f"{API}/token", {"json": {"type": "contact", "id": 1}}),
        ("POST", f"{API}/contacts/1/invite", {}),
        ("POST", f"{API}/contacts/2/invite", {}),
        ("POST", f"{API}/companies/999/invite", {}),
        ("POST", f"{API}/token", {"json": {"type": "x"}}),
        ("POST", f"{API}/token", {"body": b"{", "content_type": "application/json"}),
        ("POST", f"{API}/token", {"body": b"a=1", "content_type": "text/plain"}),
        ("POST", f"{API}/token", {"json": {"id": "x" * 70_000}}),
        ("GET", f"{API}/config", {"auth": None}),
        ("GET", f"{API}/config", {"auth": "Bearer cpk_wrong"}),
    ]
    seen = []
    for method, path, options in requests:
        reply = client.request(method, path, **options)
        seen.append(reply.status)
        assert reply.headers["X-RateLimit-Limit"] == "60"
        assert int(reply.headers["X-RateLimit-Remaining"]) >= 0
    directory.broken = True
    failed = client.post(f"{API}/token", json={"type": "contact", "id": 1})
    assert "X-RateLimit-Remaining" in failed.headers
    seen.append(failed.status)
    assert seen == [200, 200, 200, 400, 404, 422, 400, 415, 413, 401, 401, 500]


def test_rate_limit_remaining_counts_down(client: PortalClient) -> None:
    remaining = [int(client.get(f"{API}/config").headers["X-RateLimit-Remaining"]) for _ in "abc"]

    assert remaining == [59, 58, 57]


# -- the example of DESIGN.md, end to end ---------------------------------------


def test_token_url_opens_the_portal_end_to_end(client: PortalClient) -> None:
    body = new_token(client, "contact", "c-7f3e")
    path = body["url"].removeprefix("https://portal.example.test")

    page = client.browser().visit(path)

    assert page.status == 200
    assert "Carol String" in page.text
    assert body["token"] not in page.text


# -- what the core reads of a request -------------------------------------------


def test_request_query_keeps_every_value_of_a_name_in_order() -> None:
    from client_portal_core import ApiRequest

    request = ApiRequest(query_string="status=sent&limit=5&status=failed&empty=")

    assert request.query() == {"status": ["sent", "failed"], "limit": ["5"], "empty": [""]}


def test_request_cookies_are_parsed_and_a_broken_header_reads_as_none() -> None:
    from client_portal_core import ApiRequest

    assert ApiRequest(cookie="a=1; cp_session=abc.def").cookies() == {
        "a": "1",
        "cp_session": "abc.def",
    }
    assert ApiRequest(cookie='bad="unterminated').cookies() == {}
    assert ApiRequest().cookies() == {}
