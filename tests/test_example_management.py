"""The example hosts' ``create-api-token`` command, run for real."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from client_portal_core import ClientPortal, Scope, Settings
from conftest import SECRET_KEY, Directory
from support import run_host_cli

HOSTS = [
    pytest.param("examples.fastapi_host", id="fastapi"),
    pytest.param("examples.flask_host", id="flask"),
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    url = f"sqlite:///{tmp_path_factory.mktemp('tokens') / 'host.db'}"
    done = run_host_cli("examples.fastapi_host", "seed", "--database-url", url)
    assert done.returncode == 0, done.stderr
    return url, int(json.loads(done.stdout)["tenants"][0]["id"])


def create(module: str, url: str, *args: str) -> Any:
    return run_host_cli(module, "create-api-token", "--database-url", url, *args)


def principal(url: str, token: str) -> Any:
    settings = Settings.build(secret_key=SECRET_KEY, database_url=url, load_entry_points=False)
    portal = ClientPortal(settings, plugins=[Directory()])
    try:
        return portal.authenticate_principal(token)
    finally:
        portal.engine.dispose()


@pytest.mark.parametrize("module", HOSTS)
def test_create_api_token_prints_id_token_and_scopes(module: str, seeded: tuple[str, int]) -> None:
    url, tenant = seeded

    done = create(module, url, "--tenant", str(tenant), "--scope", "read", "--scope", "invite")

    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert list(printed) == ["id", "token", "scopes"]
    assert printed["scopes"] == ["read", "invite"]
    found = principal(url, printed["token"])
    assert found.tenant_id == str(tenant)
    assert found.scopes == {Scope.READ, Scope.INVITE}


@pytest.mark.parametrize("module", HOSTS)
def test_create_api_token_defaults_to_every_scope(module: str, seeded: tuple[str, int]) -> None:
    url, tenant = seeded

    done = create(module, url, "--tenant", str(tenant), "--name", "zapier")

    assert json.loads(done.stdout)["scopes"] == ["read", "invite", "admin"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "1", "--scope", "write"], "invalid choice"),
        (["--tenant", "999"], "no tenant 999"),
        (["--tenant", "x"], "not a tenant id"),
    ],
)
def test_create_api_token_refuses_bad_options(
    seeded: tuple[str, int], args: list[str], message: str
) -> None:
    done = create("examples.flask_host", seeded[0], *args)

    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_renew_expiring_refuses_a_bad_number_of_days(
    seeded: tuple[str, int], tmp_path: Path
) -> None:
    done = run_host_cli(
        "examples.fastapi_host",
        "renew-expiring",
        "--database-url",
        seeded[0],
        "--tenant",
        str(seeded[1]),
        "--within-days",
        "0",
    )

    assert done.returncode == 2
    assert "not a number of days" in done.stderr
