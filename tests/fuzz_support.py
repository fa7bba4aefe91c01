"""Helpers of the schemathesis run over both example hosts (tests/test_fuzz_hosts.py).

Each generated request goes to the FastAPI host and to the Flask host, both
started on identically seeded SQLite files; the answers are checked against
the hosts' own OpenAPI document and compared with each other after
:func:`normalize` replaces the values that legitimately differ (random
tokens, secrets and times).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: The fixed seed of every run; the second seed is random (printed).
FIXED_SEED = 20261201
#: ``FUZZ_SEED=N`` repeats a run's random seed.
SEED_VARIABLE = "FUZZ_SEED"

#: Keys whose values are random per host (mapped one to one, so the same
#: token twice on one host must be the same token twice on the other).
RANDOM_KEYS = frozenset({"token", "secret", "token_id", "next_cursor", "webhook_id"})
#: Keys of portal URLs: their last segment is a random token, the rest is compared.
URL_KEYS = frozenset({"url"})
#: Keys whose values are times: equal up to the second they were taken in.
TIME_KEYS = frozenset(
    {
        "expires_at",
        "created_at",
        "sent_at",
        "accessed_at",
        "last_accessed_at",
        "next_attempt_at",  # with a random jitter
        "finished_at",
    }
)


def random_seed() -> int:
    """The run's second seed: ``$FUZZ_SEED`` when set, else a fresh random one."""
    chosen = os.environ.get(SEED_VARIABLE)
    if chosen:
        return int(chosen)
    return random.SystemRandom().randrange(2**32)


#: This run's random seed (one per test session, printed in pytest's header).
RANDOM_SEED = random_seed()


def seed_header() -> str:
    """The line pytest prints at the start of the session."""
    return (
        f"schemathesis seeds: {FIXED_SEED} (fixed) and {RANDOM_SEED} (random; "
        f"{SEED_VARIABLE}={RANDOM_SEED} repeats it)"
    )


@dataclass
class Renaming:
    """One host's random values, each named by the order it first appeared in."""

    names: dict[str, str] = field(default_factory=dict)

    def name(self, key: str, value: str) -> str:
        """The placeholder of ``value`` (the same one every time it appears)."""
        return self.names.setdefault(value, f"<{key}#{len(self.names)}>")


def normalize(document: Any, renaming: Renaming) -> Any:
    """``document`` with random values replaced by placeholders and times by their shape."""
    if isinstance(document, dict):
        out: dict[str, Any] = {}
        for key, value in document.items():
            if key in RANDOM_KEYS and isinstance(value, str):
                out[key] = renaming.name(key, value)
            elif key in URL_KEYS and isinstance(value, str) and "/client-portal/" in value:
                base, _, token = value.rpartition("/")
                out[key] = f"{base}/{renaming.name('token', token)}"
            elif key in TIME_KEYS and isinstance(value, str):
                out[key] = "<time>"
            else:
                out[key] = normalize(value, renaming)
        return out
    if isinstance(document, list):
        return [normalize(item, renaming) for item in document]
    return document


def answer_of(status: int, content_type: str | None, body: bytes, renaming: Renaming) -> Any:
    """What is compared of one answer: status, media type and (normalized) body."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "application/json":
        try:
            parsed: Any = normalize(json.loads(body), renaming)
        except ValueError:
            parsed = {"unparsable JSON": body.decode("utf-8", "replace")}
    else:
        parsed = {"bytes": len(body)}
    return {"status": status, "media": media, "body": parsed}


def integral_floats_as_ints(value: Any) -> Any:
    """``value`` with each float that has no fraction (``1.0``) written as an integer.

    JSON Schema counts ``1.0`` as an integer, but the API takes integers only
    written as integers (``tests/test_subject_id_properties.py``), a rule JSON
    Schema cannot state; positive data is therefore sent in integer form.
    """
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {key: integral_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [integral_floats_as_ints(item) for item in value]
    return value


def has_integral_float(value: Any) -> bool:
    """Whether ``value`` holds a float that :func:`integral_floats_as_ints` would change."""
    if isinstance(value, float):
        return value.is_integer() and abs(value) < 2**63
    if isinstance(value, dict):
        return any(has_integral_float(item) for item in value.values())
    if isinstance(value, list):
        return any(has_integral_float(item) for item in value)
    return False


@dataclass
class Findings:
    """Distinct failures of a run, each with how to reproduce it."""

    seen: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, detail: str) -> None:
        """Record one failure; the first instance of each kind is kept."""
        self.seen.setdefault(kind, detail)

    def __iter__(self) -> Iterator[str]:
        return iter(f"{kind}\n{detail}" for kind, detail in self.seen.items())

    def report(self, limit: int = 40) -> str:
        """The first ``limit`` distinct failures, for the assertion message."""
        shown = list(self)[:limit]
        more = len(self.seen) - len(shown)
        tail = f"\n... and {more} more distinct failures" if more > 0 else ""
        return "\n\n".join(shown) + tail
