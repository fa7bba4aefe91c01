"""Property tests of configuration validation against the OpenAPI document's schema.

Whatever the document's ``PortalConfigUpdate`` schema accepts, ``update_config``
accepts and stores, and it reads back the same; whatever the schema refuses,
``update_config`` refuses with the library's validation error
(:class:`pydantic.ValidationError`) naming the fields, never another
exception, and nothing is stored. The schema is the one the API serves (its
``locale`` narrowed to the installed catalogs), checked by ``jsonschema``.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from client_portal_core import ClientPortal, PortalConfig
from client_portal_core.schemas import COLOR_PATTERN, EMAIL_ADDRESS_PATTERN
from conftest import API, TENANT_A, PortalFactory, mount
from fuzz_support import has_integral_float

#: Any JSON value a client may send for a field.
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
#: Values near each field's rule, valid and not.
NEAR = {
    "portal_name": st.text(max_size=130) | st.just(""),
    "portal_logo": st.sampled_from(
        ["https://", "http://", "/", "HTTPS://x", "ftp://x", ""]
    ).flatmap(lambda head: st.text(max_size=20).map(lambda tail: head + tail))
    | st.none(),
    "primary_color": st.from_regex(COLOR_PATTERN) | st.text("#0123456789abcdefgABC\n", max_size=9),
    "secondary_color": st.from_regex(COLOR_PATTERN),
    "welcome_message": st.text(max_size=40) | st.none(),
    "enabled_modules": st.lists(
        st.sampled_from(["invoices", "tasks", "files", "chat", "Tasks", ""]), max_size=5
    ),
    "is_active": st.booleans() | st.sampled_from(["yes", "true", 1, 0]),
    "allow_file_sharing": st.booleans(),
    "show_activity_feed": st.booleans(),
    "token_expiration_days": st.integers(min_value=-2, max_value=370)
    | st.sampled_from(["30", 30.5, True]),
    "reply_to": st.from_regex(EMAIL_ADDRESS_PATTERN)
    | st.sampled_from(["help@example.com", "a..b@example.com", " x@example.com\n", "x@y", ""])
    | st.none(),
    "locale": st.sampled_from(["de", "DE", "de-AT", "de_at_x1", "en", "fr", "de\n", "xx-yy", ""])
    | st.none(),
}
#: Values near the rules (a third of them anything) for many fields or for one,
#: sometimes unknown fields.
UPDATES = st.one_of(
    *[
        st.fixed_dictionaries(
            {}, optional={name: st.one_of(values, values, JSON) for name, values in NEAR.items()}
        )
    ]
    * 4,
    st.dictionaries(st.sampled_from([*NEAR, "favourite_colour"]), JSON, max_size=3),
    *[st.sampled_from(sorted(NEAR)).flatmap(lambda name: NEAR[name].map(lambda v: {name: v}))] * 4,
)


Portals = tuple[ClientPortal, ClientPortal, dict[str, Any]]


@pytest.fixture
def portals(make_portal: PortalFactory) -> Portals:
    """A portal, another one on its database without a cache (to read back what
    is stored), and the ``PortalConfigUpdate`` schema the API serves."""
    portal = make_portal()
    reader = make_portal(create_schema=False, config_cache_seconds=0)
    document = mount("flask", portal, portal.create_api_token(TENANT_A).token)
    reply = document.get(f"{API}/openapi.json")
    assert reply.status == 200
    return portal, reader, reply.json()["components"]["schemas"]["PortalConfigUpdate"]


def expected(update: dict[str, Any], before: PortalConfig) -> dict[str, Any]:
    """The stored configuration after ``update``, as the documented normalization says."""
    after = before.model_dump()
    for name, value in update.items():
        if name in ("primary_color", "secondary_color"):
            value = value.upper()
        elif name == "enabled_modules":
            value = list(dict.fromkeys(value))
        elif name == "reply_to" and value is not None:
            value = value.strip()
        elif name == "locale" and value is not None:
            value = re.split("[_-]", value)[0].lower()
        after[name] = value
    return after


@given(update=UPDATES)
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_an_update_is_accepted_exactly_when_the_documented_schema_accepts_it(
    portals: Portals, update: dict[str, Any]
) -> None:
    # JSON Schema counts 1.0 as an integer; the library takes integers written
    # as integers only (tests/test_subject_id_properties.py), which no schema says.
    assume(not has_integral_float(update))
    portal, reader, schema = portals
    before = portal.get_config(TENANT_A)
    valid = jsonschema.Draft202012Validator(schema).is_valid(update)
    event("schema accepts" if valid else "schema refuses")

    if not valid:
        with pytest.raises(ValidationError) as refused:
            portal.update_config(TENANT_A, **update)
        # Each error names a field of the update (an unknown one included).
        assert {str(error["loc"][0]) for error in refused.value.errors()} <= set(update)
        assert reader.get_config(TENANT_A) == before
        return

    config = portal.update_config(TENANT_A, **update)
    assert config.model_dump() == expected(update, before)
    assert PortalConfig.model_validate(config.model_dump()) == config
    assert reader.get_config(TENANT_A) == config
