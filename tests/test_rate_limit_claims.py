"""The rate limiter's other duties: once-per-interval claims (the portal's
self-service renewal), forgetting counts, the storage check at start, and the
errors of an unusable storage. ``tests/test_rate_limit.py`` has the limits."""

from __future__ import annotations

import logging
import time
import warnings

import pytest
from limits.storage import MemoryStorage

from client_portal_core import ConfigurationError
from client_portal_core.ratelimit import RateLimiter, RateLimitUnavailable
from conftest import FakeMonotonic, free_port
from test_rate_limit import SilentServer

LOGGER = "client_portal_core.ratelimit"


# -- claims ---------------------------------------------------------------------------


def test_a_claim_succeeds_once_per_key_within_its_interval() -> None:
    limiter = RateLimiter("3/day")

    assert limiter.claim(["renew:1"], 3600) is True
    assert limiter.claim(["renew:1"], 3600) is False
    assert limiter.claim(["renew:2"], 3600) is True


def test_a_claim_of_several_keys_needs_each_and_stops_at_the_first_taken() -> None:
    limiter = RateLimiter("3/day")
    assert limiter.claim(["token:1"], 3600) is True

    assert limiter.claim(["token:1", "address:a"], 3600) is False
    # The refused claim stopped at its first key: the second was not counted.
    assert limiter.claim(["address:a"], 3600) is True
    assert limiter.claim(["token:2", "address:b"], 3600) is True
    assert limiter.claim(["address:b"], 3600) is False


def test_a_claim_can_be_made_again_once_its_interval_is_over() -> None:
    limiter = RateLimiter("3/day")
    assert limiter.claim(["renew:1"], 1) is True
    assert limiter.claim(["renew:1"], 1) is False

    # The storage's clock is the wall clock: poll until the one-second claim lapses.
    deadline = time.monotonic() + 10
    while not limiter.claim(["renew:1"], 1):
        assert time.monotonic() < deadline, "a one-second claim was still held after 10 s"
        time.sleep(0.05)


def test_released_claims_can_be_made_again_and_others_stay_taken() -> None:
    limiter = RateLimiter("3/day")
    assert limiter.claim(["a", "b", "c"], 3600) is True

    limiter.release(["a", "b"])

    assert limiter.claim(["a"], 3600) is True
    assert limiter.claim(["b"], 3600) is True
    assert limiter.claim(["c"], 3600) is False


@pytest.mark.parametrize("fail_open", [True, False])
def test_a_claim_during_an_outage_follows_the_fail_mode_and_is_logged(
    caplog: pytest.LogCaptureFixture, fail_open: bool
) -> None:
    limiter = RateLimiter("3/day", f"redis://127.0.0.1:{free_port()}", fail_open=fail_open)
    caplog.clear()  # the warning at start is tested below

    with caplog.at_level(logging.ERROR, logger=LOGGER):
        if fail_open:
            assert limiter.claim(["renew:1"], 3600) is True
        else:
            with pytest.raises(RateLimitUnavailable):
                limiter.claim(["renew:1"], 3600)

    assert [r.getMessage() for r in caplog.records] == [
        "rate limit storage unreachable (ConnectionError); "
        + ("letting requests through" if fail_open else "answering 503")
    ]


def test_releasing_during_an_outage_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RateLimiter("3/day", f"redis://127.0.0.1:{free_port()}", fail_open=False)
    caplog.clear()

    with caplog.at_level(logging.ERROR, logger=LOGGER):
        limiter.release(["renew:1"])  # the claim simply expires

    assert [r.getMessage() for r in caplog.records] == [
        "rate limit storage unreachable (ConnectionError); answering 503"
    ]


# -- reset ------------------------------------------------------------------------------


def test_reset_forgets_every_count_and_claim_and_ends_an_outage_window() -> None:
    elapsed = FakeMonotonic()
    limiter = RateLimiter("2/day", monotonic=elapsed)
    limiter.hit("token")
    limiter.hit("token")
    assert limiter.hit("token").allowed is False
    assert limiter.claim(["renew:1"], 3600) is True
    limiter._skip_storage_until = elapsed() + 60  # as a storage failure leaves it

    limiter.reset()

    decision = limiter.hit("token")
    assert (decision.allowed, decision.remaining) == (True, 1)  # counted: the storage was asked
    assert limiter.claim(["renew:1"], 3600) is True


# -- at start -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fail_open", "outcome"),
    [
        (True, "requests go through unlimited until it answers"),
        (False, "API requests are answered 503 until it answers"),
    ],
)
def test_an_unreachable_storage_is_reported_once_at_start_without_its_password(
    caplog: pytest.LogCaptureFixture, fail_open: bool, outcome: str
) -> None:
    port = free_port()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        RateLimiter("3/day", f"redis://:s3cret@127.0.0.1:{port}/2", fail_open=fail_open)

    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            f"rate limit storage redis://127.0.0.1:{port}/2 is unreachable at start: {outcome}",
        )
    ]


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("redis://user:pa@ss@127.0.0.1:{port}", "redis://127.0.0.1:{port}"),
        (
            "redis://127.0.0.1:{port}/0?socket_timeout=0.2",
            "redis://127.0.0.1:{port}/0?socket_timeout=0.2",
        ),
        # An "@" after the host is no credential; a later "://" is not the scheme's.
        (
            "redis://127.0.0.1:{port}/0?client_name=a@b",
            "redis://127.0.0.1:{port}/0?client_name=a@b",
        ),
        (
            "redis://:pw@127.0.0.1:{port}/0?client_name=x://y",
            "redis://127.0.0.1:{port}/0?client_name=x://y",
        ),
    ],
)
def test_the_reported_address_keeps_everything_but_the_credentials(
    caplog: pytest.LogCaptureFixture, uri: str, shown: str
) -> None:
    port = free_port()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        RateLimiter("3/day", uri.format(port=port))

    [record] = caplog.records
    assert record.getMessage().startswith(f"rate limit storage {shown.format(port=port)} is ")


def test_a_storage_that_hangs_at_start_costs_the_first_request_no_wait() -> None:
    server = SilentServer()
    try:
        elapsed = FakeMonotonic()
        limiter = RateLimiter("3/day", f"redis://127.0.0.1:{server.port}", monotonic=elapsed)
        asked_at_start = len(server.accepted)
        decisions = [limiter.hit("token") for _ in range(3)]
        asked_after = len(server.accepted)
    finally:
        server.close()

    assert (asked_at_start, asked_after) == (1, 1)  # the check at start opened the outage window
    assert all(d.allowed for d in decisions)


class CheckRaisesStorage(MemoryStorage):
    """A storage whose health check itself raises (a plugin storage's bug, or a
    driver that does not catch its own errors)."""

    STORAGE_SCHEME = ["cptest-check-raises"]

    def check(self) -> bool:
        raise OSError("the check itself failed")


def test_a_storage_whose_check_raises_is_reported_unreachable_at_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        RateLimiter("3/day", "cptest-check-raises://")

    assert [r.getMessage() for r in caplog.records] == [
        "rate limit storage cptest-check-raises:// is unreachable at start: "
        "requests go through unlimited until it answers"
    ]


def test_the_memory_storage_is_not_checked_at_start(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger=LOGGER), warnings.catch_warnings():
        warnings.simplefilter("error")
        limiter = RateLimiter("3/day", "memory://")

    assert caplog.records == []
    assert limiter._skip_storage_until == 0.0


@pytest.mark.redis
def test_a_reachable_redis_gives_no_warning_at_start(
    caplog: pytest.LogCaptureFixture, redis_url: str
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        limiter = RateLimiter("3/day", redis_url)

    assert caplog.records == []
    assert limiter._skip_storage_until == 0.0


@pytest.mark.parametrize("workers", ["auto", "", "2x"])
def test_a_worker_count_that_is_not_a_number_counts_as_one_process(
    monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", workers)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the several-processes warning would raise
        RateLimiter("3/day", "memory://")


# -- unusable storages ---------------------------------------------------------------------


def test_an_unknown_storage_scheme_is_a_configuration_error_naming_the_scheme() -> None:
    with pytest.raises(ConfigurationError, match=r"^unusable rate limit storage nosuch://: "):
        RateLimiter("3/day", "nosuch://somewhere")


def test_an_async_storage_is_refused_with_what_to_do() -> None:
    with pytest.raises(
        ConfigurationError, match=r"^async\+ rate limit storages are not supported; drop 'async\+'$"
    ):
        RateLimiter("3/day", "async+memory://")
