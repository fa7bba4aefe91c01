"""The suite's own rule: a missing server skips locally and fails in CI."""

from __future__ import annotations

import pytest

from conftest import free_port, require_server


def test_missing_server_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(pytest.skip.Exception, match="not reachable"):
        require_server("PostgreSQL", "127.0.0.1", free_port())


def test_missing_server_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")

    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_server("Redis", "127.0.0.1", free_port())
