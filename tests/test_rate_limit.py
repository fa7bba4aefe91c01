"""Per-API-token rate limiting, on memory and Redis storage, through both adapters."""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import threading
import warnings
from typing import Any

import pytest

from client_portal_core import ClientPortal, ConfigurationError, Settings
from client_portal_core.ratelimit import (
    FailureThrottle,
    RateLimiter,
    RateLimitUnavailable,
    warn_if_memory_storage,
)
from conftest import API, TENANT_A, TENANT_B, FakeMonotonic, PortalClient, free_port


@pytest.fixture
def limited(make_portal: Any, rate_limit_storage: str) -> ClientPortal:
    # A day-long window: a test never straddles a window boundary.
    return make_portal(rate_limit="3/day", rate_limit_storage=rate_limit_storage)  # type: ignore[no-any-return]


@pytest.fixture
def limited_client(limited: ClientPortal, make_client: Any) -> PortalClient:
    return make_client(limited, limited.create_api_token(TENANT_A).token)  # type: ignore[no-any-return]


def test_headers_count_down_to_the_limit(limited_client: PortalClient) -> None:
    replies = [limited_client.get(f"{API}/config") for _ in range(3)]

    assert [r.status for r in replies] == [200, 200, 200]
    assert [r.headers["X-RateLimit-Limit"] for r in replies] == ["3", "3", "3"]
    assert [r.headers["X-RateLimit-Remaining"] for r in replies] == ["2", "1", "0"]


def test_over_the_limit_is_429_with_retry_after(limited_client: PortalClient) -> None:
    for _ in range(3):
        limited_client.get(f"{API}/config")

    reply = limited_client.post(f"{API}/token", json={"type": "contact", "id": 1})

    assert reply.status == 429
    assert reply.json() == {"message": "Too Many Requests"}
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["X-RateLimit-Limit"] == "3"
    assert reply.headers["X-RateLimit-Remaining"] == "0"
    # The rest of the day-long window the first request opened (less this test's time).
    assert 23 * 3600 < int(reply.headers["Retry-After"]) <= 24 * 3600


def test_limited_request_does_no_work(limited: ClientPortal, limited_client: PortalClient) -> None:
    for _ in range(3):
        limited_client.get(f"{API}/config")

    assert limited_client.post(f"{API}/contacts/1/invite").status == 429
    assert limited.list_invitations(TENANT_A) == []


def test_limits_are_per_api_token(limited: ClientPortal, limited_client: PortalClient) -> None:
    for _ in range(4):
        limited_client.get(f"{API}/config")
    other = limited_client.as_token(limited.create_api_token(TENANT_A).token)
    tenant_b = limited_client.as_token(limited.create_api_token(TENANT_B).token)

    assert other.get(f"{API}/config").status == 200
    assert tenant_b.get(f"{API}/config").headers["X-RateLimit-Remaining"] == "2"
    assert limited_client.get(f"{API}/config").status == 429


def test_unauthenticated_requests_are_limited_too(
    limited: ClientPortal, limited_client: PortalClient
) -> None:
    revoked = limited.create_api_token(TENANT_A)
    limited.revoke_api_token(TENANT_A, revoked.id)
    guesser = limited_client.as_token(revoked.token)

    statuses = [guesser.get(f"{API}/config").status for _ in "abcd"]

    assert statuses == [401, 401, 401, 429]


def test_default_limit_is_60_per_minute(portal: ClientPortal, client: PortalClient) -> None:
    assert portal.settings.rate_limit == "60/minute"
    assert client.get(f"{API}/config").headers["X-RateLimit-Limit"] == "60"


@pytest.mark.redis
def test_portals_sharing_redis_share_the_budget(
    make_portal: Any, make_client: Any, redis_url: str
) -> None:
    first = make_portal(rate_limit="3/day", rate_limit_storage=redis_url)
    second = make_portal(rate_limit="3/day", rate_limit_storage=redis_url, create_schema=False)
    token = first.create_api_token(TENANT_A).token
    one, two = make_client(first, token), make_client(second, token)

    statuses = [one.get(f"{API}/config").status, two.get(f"{API}/config").status]
    statuses += [one.get(f"{API}/config").status, two.get(f"{API}/config").status]

    assert statuses == [200, 200, 200, 429]


def test_unreachable_storage_fails_open(make_portal: Any, make_client: Any) -> None:
    portal = make_portal(rate_limit="3/day", rate_limit_storage=f"redis://127.0.0.1:{free_port()}")
    client = make_client(portal, portal.create_api_token(TENANT_A).token)

    replies = [client.get(f"{API}/config") for _ in range(5)]

    assert [r.status for r in replies] == [200] * 5
    assert {r.headers["X-RateLimit-Remaining"] for r in replies} == {"3"}
    assert {r.headers["X-RateLimit-Limit"] for r in replies} == {"3"}


def test_unreachable_storage_can_fail_closed_with_503(make_portal: Any, make_client: Any) -> None:
    portal = make_portal(
        rate_limit_storage=f"redis://127.0.0.1:{free_port()}", rate_limit_fail_open=False
    )
    client = make_client(portal, portal.create_api_token(TENANT_A).token)

    reply = client.get(f"{API}/config")

    assert (reply.status, reply.json()) == (503, {"message": "Service Unavailable"})


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers:
    a hung Redis. Counts the connections it accepted."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.accepted.append(connection)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for connection in self.accepted:
            connection.close()
        self._listener.close()


@pytest.mark.parametrize("fail_open", [True, False])
def test_a_hung_storage_is_asked_once_not_on_every_request(fail_open: bool) -> None:
    server = SilentServer()
    try:
        limiter = RateLimiter("3/day", f"redis://127.0.0.1:{server.port}", fail_open=fail_open)
        outcomes = []
        for _ in range(5):
            try:
                outcomes.append(limiter.hit("some-token").allowed)
            except RateLimitUnavailable:
                outcomes.append(None)
        asked = len(server.accepted)
    finally:
        server.close()

    assert outcomes == ([True] * 5 if fail_open else [None] * 5)
    # The first request waited for the storage's timeout; the next four did not ask.
    assert asked == 1


def test_when_the_outage_window_ends_one_request_asks_the_storage_not_all() -> None:
    server = SilentServer()
    try:
        elapsed = FakeMonotonic()
        limiter = RateLimiter("3/day", f"redis://127.0.0.1:{server.port}", monotonic=elapsed)
        limiter.hit("first")  # fails (timeout): outage mode
        assert len(server.accepted) == 1
        elapsed.advance(5.1)  # the 5 s window is over (without waiting)
        barrier = threading.Barrier(8)

        def one_request() -> None:
            barrier.wait(timeout=10)
            limiter.hit("again")

        threads = [threading.Thread(target=one_request) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        asked = len(server.accepted)
    finally:
        server.close()

    assert asked == 2  # one probe for the eight requests


def asked_after_an_outage(*advances: float) -> list[int]:
    """How often a hung storage has been asked after each of ``advances`` (seconds
    on the limiter's clock, each followed by a request), a 5-second outage
    window having begun with a first request."""
    server = SilentServer()
    try:
        elapsed = FakeMonotonic()
        limiter = RateLimiter(
            "3/day", f"redis://127.0.0.1:{server.port}", retry_after_outage=5, monotonic=elapsed
        )
        limiter.hit("first")  # fails (timeout): outage mode
        asked = []
        for seconds in advances:
            elapsed.advance(seconds)
            limiter.hit("later")
            asked.append(len(server.accepted))
        return asked
    finally:
        server.close()


def test_the_outage_window_lasts_retry_after_outage_seconds_of_its_clock() -> None:
    asked_within, asked_after = asked_after_an_outage(4.9, 0.2)

    assert (asked_within, asked_after) == (1, 2)


def test_the_storage_is_used_again_once_it_answers(rate_limit_storage: str) -> None:
    limiter = RateLimiter("3/day", rate_limit_storage)
    limiter._skip_storage_until = 1e-9  # an outage window that is over

    key = f"back-{secrets.token_hex(8)}"  # Redis keeps counts across runs: a fresh key
    decisions = [limiter.hit(key) for _ in range(4)]

    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert [d.allowed for d in decisions] == [True, True, True, False]


@pytest.mark.parametrize("rate", ["lots", "60/fortnight", ""])
def test_invalid_rate_limit_is_a_configuration_error(rate: str) -> None:
    with pytest.raises(ConfigurationError):
        Settings.build(secret_key="k" * 32, rate_limit=rate)


def test_memory_storage_warns_under_several_workers(
    make_portal: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "4")

    with pytest.warns(RuntimeWarning, match="memory://"):
        make_portal(rate_limit_storage="memory://")


# -- portal links ---------------------------------------------------------------


@pytest.fixture
def link_limited(make_portal: Any, rate_limit_storage: str) -> ClientPortal:
    return make_portal(  # type: ignore[no-any-return]
        portal_rate_limit="2/day", rate_limit_storage=rate_limit_storage
    )


def test_a_portal_link_opened_too_often_answers_a_429_page(
    link_limited: ClientPortal, make_client: Any
) -> None:
    client = make_client(link_limited, None)
    issued = link_limited.get_or_create_token(TENANT_A, "contact", 1)
    other = link_limited.get_or_create_token(TENANT_A, "company", 10)
    path = f"/client-portal/{issued.token}"

    replies = [client.get(path) for _ in range(3)]

    assert [r.status for r in replies] == [303, 303, 429]
    assert replies[2].headers["Content-Type"] == "text/html; charset=utf-8"
    assert 0 < int(replies[2].headers["Retry-After"]) <= 24 * 3600
    row = link_limited.token_store.get_token(TENANT_A, issued.token_id)
    assert row is not None
    assert row.access_count == 2  # the refused view wrote nothing
    assert client.get(f"/client-portal/{other.token}").status == 303  # counted per link


def test_other_spellings_of_a_throttled_link_are_refused_and_count_nothing(
    link_limited: ClientPortal, make_client: Any
) -> None:
    client = make_client(link_limited, None)
    issued = link_limited.get_or_create_token(TENANT_A, "contact", 1)
    token = issued.token
    # A working link answers 303 (to the portal home, signed in).
    assert [client.get(f"/client-portal/{token}").status for _ in range(3)] == [303, 303, 429]
    other_last = next(c for c in "opqrABCD" if c != token[-1])
    spellings = [f"{token}=v{n}" for n in range(1, 6)] + [token + "=", token[:-1] + other_last]

    statuses = {client.get(f"/client-portal/{spelling}").status for spelling in spellings}

    assert statuses.isdisjoint({200, 303})
    row = link_limited.token_store.get_token(TENANT_A, issued.token_id)
    assert row is not None
    assert row.access_count == 2


def test_portal_links_fail_closed_with_a_503_page_when_told_to(
    make_portal: Any, make_client: Any
) -> None:
    closed = free_port()
    portal = make_portal(
        rate_limit_storage=f"redis://127.0.0.1:{closed}", rate_limit_fail_open=False
    )
    issued = portal.get_or_create_token(TENANT_A, "contact", 1)

    reply = make_client(portal, None).get(f"/client-portal/{issued.token}")

    assert reply.status == 503
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"


def test_redis_timeouts_default_to_half_a_second_and_the_url_may_set_others() -> None:
    def timeouts(url: str) -> tuple[float, float]:
        kwargs = RateLimiter("3/day", url).storage.storage.connection_pool.connection_kwargs  # type: ignore[attr-defined]
        return kwargs["socket_timeout"], kwargs["socket_connect_timeout"]

    assert timeouts("redis://127.0.0.1:6379/0") == (0.5, 0.5)
    # TLS and a Unix socket (nothing listens on either: only the options are read).
    assert timeouts(f"rediss://127.0.0.1:{free_port()}/0") == (0.5, 0.5)
    assert timeouts("redis+unix:///nonexistent/client-portal-test.sock") == (0.5, 0.5)
    assert timeouts("redis://127.0.0.1:6379/0?socket_timeout=2&socket_connect_timeout=3") == (2, 3)


def test_the_outage_window_ends_exactly_retry_after_outage_seconds_later() -> None:
    (asked,) = asked_after_an_outage(5)

    assert asked == 2


@pytest.mark.parametrize(
    ("fail_open", "mode"), [(True, "letting requests through"), (False, "answering 503")]
)
def test_an_outage_is_logged_once_per_ten_seconds_with_what_requests_get(
    caplog: pytest.LogCaptureFixture, fail_open: bool, mode: str
) -> None:
    elapsed = FakeMonotonic()
    limiter = RateLimiter(
        "3/day",
        f"redis://127.0.0.1:{free_port()}",
        fail_open=fail_open,
        retry_after_outage=0,  # every request asks the refusing storage again
        monotonic=elapsed,
    )
    caplog.clear()  # the warning at start is another test's subject
    logged = []
    with caplog.at_level(logging.ERROR, logger="client_portal_core.ratelimit"):
        for step in (0, 9.9, 0.1, 0.1):
            elapsed.advance(step)
            with contextlib.suppress(RateLimitUnavailable):
                limiter.hit("some-token")
            logged.append(len(caplog.records))

    assert logged == [1, 1, 1, 2]  # at 0 s, and again only once more than 10 s passed
    assert {record.getMessage() for record in caplog.records} == {
        f"rate limit storage unreachable (ConnectionError); {mode}"
    }


def test_a_failure_without_a_client_address_is_not_counted() -> None:
    limiter = RateLimiter("100/minute")
    throttle = FailureThrottle(limiter, "1/minute")

    for _ in range(3):
        throttle.failed(None)

    assert throttle.retry_after(None) == 0
    assert throttle.item is not None
    assert limiter.storage.get(throttle.item.key_for("client-portal", "failed-credentials:")) == 0


def test_counting_a_failure_never_raises_even_when_the_limiter_fails_closed() -> None:
    limiter = RateLimiter("100/minute", f"redis://127.0.0.1:{free_port()}", fail_open=False)
    throttle = FailureThrottle(limiter, "1/minute")

    throttle.failed("192.0.2.7")  # the storage refuses: logged, not raised

    with pytest.raises(RateLimitUnavailable):
        throttle.retry_after("192.0.2.7")  # asking before a credential does fail closed


def test_a_throttled_address_waits_for_the_end_of_its_window() -> None:
    throttle = FailureThrottle(RateLimiter("100/minute"), "1/hour")

    throttle.failed("192.0.2.7")

    # About an hour (less what this test took), never "try again in a second".
    assert 3000 < throttle.retry_after("192.0.2.7") <= 3600
    assert throttle.retry_after("192.0.2.8") == 0


def test_asking_about_failures_during_an_outage_does_not_wait_on_the_storage() -> None:
    server = SilentServer()
    try:
        limiter = RateLimiter("3/day", f"redis://127.0.0.1:{server.port}")
        throttle = FailureThrottle(limiter, "5/minute")
        limiter.hit("first")  # fails (timeout): outage mode
        waits = [throttle.retry_after("192.0.2.7") for _ in range(4)]
        asked = len(server.accepted)
    finally:
        server.close()

    assert waits == [0, 0, 0, 0]  # failing open
    assert asked == 1


def test_an_outage_found_by_asking_about_failures_fails_open_and_is_asked_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = SilentServer()
    elapsed = FakeMonotonic()
    try:
        limiter = RateLimiter("3/day", f"redis://127.0.0.1:{server.port}", monotonic=elapsed)
        throttle = FailureThrottle(limiter, "5/minute")
        # The start-up check found the storage silent; once its outage window
        # has passed, the first question asks again.
        asked_at_start = len(server.accepted)
        elapsed.advance(limiter.retry_after_outage + 1)
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="client_portal_core.ratelimit"):
            waits = [throttle.retry_after("192.0.2.7") for _ in range(4)]
        asked = len(server.accepted) - asked_at_start
    finally:
        server.close()

    assert waits == [0, 0, 0, 0]
    assert asked == 1  # the first question found the outage; the next three did not ask
    assert [record.getMessage() for record in caplog.records] == [
        "rate limit storage unreachable (TimeoutError); letting requests through"
    ]


@pytest.mark.parametrize(
    ("storage_uri", "workers", "warns"),
    [
        pytest.param("memory://", 1, False, id="memory-one-process"),
        pytest.param("memory://", 2, True, id="memory-two-processes"),
        pytest.param("redis://127.0.0.1:6379/0", 4, False, id="redis-shared"),
    ],
)
def test_only_memory_storage_under_several_processes_warns(
    storage_uri: str, workers: int, warns: bool
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_if_memory_storage(storage_uri, workers)

    assert [issubclass(w.category, RuntimeWarning) for w in caught] == ([True] if warns else [])


def test_the_memory_storage_warning_says_what_goes_wrong_and_what_to_use(
    caplog: pytest.LogCaptureFixture,
) -> None:
    expected = (
        "client-portal rate limiting uses memory:// storage with 3 worker processes: each "
        "process counts separately, so the effective limit is 3 times the configured one. "
        "Use redis:// storage."
    )
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        warn_if_memory_storage("memory://", 3)

    assert [str(w.message) for w in caught] == [expected]
    assert [r.getMessage() for r in caplog.records if r.name.endswith("ratelimit")] == [expected]


def test_an_invalid_rate_names_itself() -> None:
    with pytest.raises(ConfigurationError) as raised:
        RateLimiter("lots")

    assert str(raised.value) == "invalid rate limit 'lots'"
