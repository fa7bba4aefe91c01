"""Schemathesis against both example hosts' own OpenAPI documents, answers compared.

Both hosts run ``serve`` as subprocesses on 127.0.0.1, each on a SQLite file
that ``seed`` filled identically (same ids, same data; only the API tokens
differ), with the same secret key and public URL. Every generated request,
positive (schema-valid) and negative (schema-invalid), is sent to the FastAPI
host and then to the Flask host, so their states stay the same; each answer
goes through every schemathesis check (no 5xx, status code, content type,
headers and body conformance, positive data accepted, negative data refused,
authentication not ignored, ...), and the two answers must be equal (status,
media type and JSON body, after random tokens, secrets and times are replaced
by placeholders: see ``fuzz_support.normalize``).

Each run uses a fixed seed and one random seed, printed at the start of the
run; ``FUZZ_SEED=N`` repeats it, ``FUZZ_EXAMPLES=N`` changes the examples per
operation and mode.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fuzz_support import (
    FIXED_SEED,
    RANDOM_SEED,
    Findings,
    Renaming,
    answer_of,
    has_integral_float,
    integral_floats_as_ints,
    seed_header,
)
from support import (
    ROOT,
    BackgroundProcess,
    SmtpSink,
    free_port,
    host_env,
    run_host_cli,
    wait_for_http,
)

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.core.failures import Failure  # noqa: E402

API = "/api/v1/client-portal"
HOSTS = ("examples.fastapi_host", "examples.flask_host")
SECRET_KEY = "fuzz-secret-key-0123456789abcdef"
PUBLIC_URL = "http://portal.example.test"
#: Examples per operation and generation mode (and seed): bounded for CI.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SEEDS = [
    pytest.param(FIXED_SEED, id=f"fixed-seed-{FIXED_SEED}"),
    pytest.param(RANDOM_SEED, id=f"random-seed-{RANDOM_SEED}"),
]
MODES = [
    pytest.param(GenerationMode.POSITIVE, id="positive"),
    pytest.param(GenerationMode.NEGATIVE, id="negative"),
]
#: Whatever a client sends, nothing on this list may ever be answered.
SERVER_ERROR = 500


@dataclass
class Host:
    """One running example host."""

    module: str
    base_url: str
    api_token: str
    process: BackgroundProcess

    @property
    def auth(self) -> dict[str, str]:
        """The header of its first seeded tenant's API token (all scopes)."""
        return {"Authorization": f"Bearer {self.api_token}"}


@pytest.fixture(scope="module")
def hosts(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[list[Host]]:
    """Both hosts, serving identically seeded databases with generous limits."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():  # shown even when output is captured
        print(f"\n{seed_header()}, {EXAMPLES} examples per operation and mode")
    env = {
        **host_env(),
        "CLIENT_PORTAL_SECRET_KEY": SECRET_KEY,
        # Negative data sends many bad credentials from one address.
        "CLIENT_PORTAL_FAILED_CREDENTIAL_LIMIT": "off",
        # Generated endpoint URLs name any host: the first delivery attempt
        # waits ten years, so the in-process worker never sends anything anywhere
        # (and both hosts' deliveries stay alike, untouched by timing).
        "CLIENT_PORTAL_WEBHOOK_RETRY_SCHEDULE": str(10 * 365 * 24 * 3600),
    }
    started: list[Host] = []
    with SmtpSink() as smtp:
        try:
            for module in HOSTS:
                started.append(_start(module, tmp_path_factory, smtp.url, env))
            yield started
        finally:
            for host in started:
                host.process.stop()


def _start(
    module: str, tmp_path_factory: pytest.TempPathFactory, smtp_url: str, env: dict[str, str]
) -> Host:
    folder = tmp_path_factory.mktemp(module.split(".")[-1])
    database_url = f"sqlite:///{folder / 'portal.db'}"
    seeded = run_host_cli(module, "seed", "--database-url", database_url, env=env)
    assert seeded.returncode == 0, seeded.stderr
    api_token = json.loads(seeded.stdout)["tenants"][0]["api_token"]
    port = free_port()
    command = [sys.executable, "-m", module, "serve", "--port", str(port)]
    command += ["--database-url", database_url, "--smtp-url", smtp_url]
    command += ["--public-url", PUBLIC_URL, "--rate-limit", "1000000/minute"]
    process = BackgroundProcess(command, log_dir=folder / "serve", cwd=ROOT, env=env)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base_url + "/healthz", process=process.process)
    except (RuntimeError, TimeoutError) as exc:
        process.stop()
        pytest.fail(f"{module}: {exc}\n{process.stderr()}")
    return Host(module, base_url, api_token, process)


#: Schema-valid requests the API answers 400 by design: an invitation to a
#: subject whose directory entry has no email address (a seeded case).
CONFIG = """
[[operations]]
include-operation-id-regex = "^client_portal_(invite_contact|invite_company|retry_invitation)$"
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx",
]
"""


@pytest.fixture(scope="module")
def schema(hosts: list[Host]) -> Any:
    """The FastAPI host's own OpenAPI document, loaded by schemathesis."""
    return schemathesis.openapi.from_url(
        hosts[0].base_url + API + "/openapi.json", config=schemathesis.Config.from_str(CONFIG)
    )


def test_both_hosts_serve_one_openapi_document(hosts: list[Host]) -> None:
    documents = [httpx.get(h.base_url + API + "/openapi.json", timeout=30) for h in hosts]

    assert [d.status_code for d in documents] == [200, 200]
    assert documents[0].json() == documents[1].json()


#: The seeded subjects both hosts have (tenant 1's, then tenant 2's, which
#: tenant 1's token must not reach), and small ids of what the run creates.
SUBJECT_IDS = {"contact": [1, 2, 3], "company": [1, 2, 3]}
CREATED_IDS = st.integers(min_value=1, max_value=6)


def _steer(case: Any, data: st.DataObject) -> None:
    """Half the time, aim a positive case at things that exist on both hosts.

    Random ids almost never name a seeded contact or a created webhook, so
    without this the hosts would mostly be compared on their 404s.
    """
    if not data.draw(st.booleans(), label="steer"):
        return
    body = case.body
    if isinstance(body, dict) and body.get("type") in SUBJECT_IDS and "id" in body:
        chosen = data.draw(st.sampled_from(SUBJECT_IDS[body["type"]]), label="subject id")
        case.body = {**body, "id": chosen}
    path = dict(case.path_parameters or {})
    for name in path:
        if name == "id" and "/invite" in case.operation.path:
            path[name] = str(data.draw(st.sampled_from([1, 2, 3]), label="path subject id"))
        else:
            path[name] = data.draw(CREATED_IDS, label=name)
    if path:
        case.path_parameters = path


def _prepare(case: Any, mode: GenerationMode, data: st.DataObject) -> None:
    """Adjust positive data for the rules JSON Schema cannot say (see fuzz_support)."""
    if mode is GenerationMode.POSITIVE:
        _steer(case, data)
        if has_integral_float(case.body):  # assigning marks the case as changed
            case.body = integral_floats_as_ints(case.body)
        # A cursor is opaque: only a previous page's next_cursor is one.
        if case.query and "cursor" in case.query:
            case.query = {k: v for k, v in case.query.items() if k != "cursor"}


def _send(case: Any, host: Host, findings: Findings, renaming: Renaming) -> Any:
    # A negative case whose negated part is the credential keeps its own
    # (bad) Authorization; every other case carries this host's API token.
    negated_auth = case.operation.schema.is_security_param_negated(case)
    auth = {} if negated_auth else host.auth
    response = case.call(base_url=host.base_url, headers=auth, timeout=30)
    name = host.module.split(".")[-1]
    try:
        case.validate_response(
            response,
            headers=auth,
            transport_kwargs={"base_url": host.base_url, "headers": auth, "timeout": 30},
        )
    except* Failure as group:
        for failure in group.exceptions:
            assert isinstance(failure, Failure)
            findings.add(
                f"{name}: {case.operation.label}: {failure.title}",
                f"{failure.message}\n[{response.status_code}] {response.text[:400]}\n"
                f"{case.as_curl_command(headers=auth)}",
            )
    return answer_of(
        response.status_code,
        response.headers.get("content-type", [None])[0],
        response.content,
        renaming,
    )


@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fuzz_seed", SEEDS)
def test_generated_requests_conform_and_both_hosts_answer_alike(
    hosts: list[Host], schema: Any, mode: GenerationMode, fuzz_seed: int
) -> None:
    findings = Findings()
    renamings = [Renaming(), Renaming()]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @seed(fuzz_seed)
        def exchange(case: Any, data: st.DataObject) -> None:
            _prepare(case, mode, data)
            answers = [
                _send(case, host, findings, renaming)
                for host, renaming in zip(hosts, renamings, strict=True)
            ]
            if answers[0] != answers[1]:
                findings.add(
                    f"hosts differ: {case.operation.label}: "
                    f"{answers[0]['status']} vs {answers[1]['status']}",
                    f"fastapi: {answers[0]}\nflask:   {answers[1]}\n{case.as_curl_command()}",
                )

        exchange()

    assert not findings.seen, f"seed {fuzz_seed}, {mode.value} data:\n{findings.report()}"
