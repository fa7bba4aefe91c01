"""Requests per second of the example hosts, against each host's own ``/healthz``.

Each host runs as a real ``serve`` process (uvicorn or waitress) on SQLite
with seeded data and a rate limit high enough never to trigger; ``wrk`` loads
``GET /healthz``, ``GET /config`` and ``POST /token`` (an existing token) in
turn, in the same run on the same machine. The Flask host's ``GET /config``
is loaded once more over a single connection (``wrk -c1``).

A bare FastAPI app (``bare_fastapi``, no library) measures what one hop from
the event loop to a worker thread costs: an empty handler on the loop,
through ``run_in_executor`` on a small pool, and in AnyIO's default pool.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from ._util import Figure, free_port

HOSTS = ("fastapi", "flask")
ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/api/v1/client-portal"
TARGETS = {"config": 0.5, "token": 0.35}
HOPS = {
    "executor": "bare FastAPI: empty handler via run_in_executor vs on the loop",
    "anyio": "bare FastAPI: empty handler in AnyIO's thread pool vs on the loop",
}
ONE_CONNECTION_ROW = "flask: config req/s vs /healthz, 1 connection"


def rows(quick: bool = False) -> list[str]:
    """The row names :func:`run` prints, in order."""
    names = [f"{host}: {endpoint} req/s vs /healthz" for host in HOSTS for endpoint in TARGETS]
    return [*names, ONE_CONNECTION_ROW, *HOPS.values()]


def _wait_ready(url: str, deadline_seconds: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not become ready")


def _wrk(url: str, seconds: int, lua: Path | None = None, connections: int = 16) -> float:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if lua is not None:
        command += ["-s", str(lua)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise RuntimeError(f"{url}: {non_2xx.group(1)} non-2xx responses under load")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None:
        raise RuntimeError(f"could not read wrk output:\n{output}")
    return float(match.group(1))


def _lua(path: Path, method: str, token: str, body: str | None) -> Path:
    lines = [
        f'wrk.method = "{method}"',
        f'wrk.headers["Authorization"] = "Bearer {token}"',
    ]
    if body is not None:
        lines.append('wrk.headers["Content-Type"] = "application/json"')
        lines.append(f"wrk.body = '{body}'")
    path.write_text("\n".join(lines) + "\n")
    return path


def measure_host(
    host: str,
    seconds: int,
    tmp: Path,
    *,
    python_args: tuple[str, ...] = ("-m",),
    one_connection: bool = False,
) -> dict[str, float]:
    """Requests per second of healthz, config and token on one example host.

    :param python_args: what comes between the interpreter and the host's
        module name on the ``serve`` command line (a wrapper can set
        interpreter options before running the module).
    :param one_connection: also load healthz and config over one connection
        (keys ``healthz-c1`` and ``config-c1``).
    """
    database = f"sqlite:///{tmp / f'{host}.db'}"
    module = f"examples.{host}_host"
    seeded = subprocess.run(
        [sys.executable, "-m", module, "seed", "--database-url", database],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    tenant = json.loads(seeded.stdout)["tenants"][0]
    api_token = tenant["api_token"]
    contact_id = tenant["contacts"][0]["id"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, *python_args, module, "serve", "--port", str(port),
         "--database-url", database, "--rate-limit", "100000000/minute",
         "--secret-key", "benchmark-secret-key-0123456789"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        _wait_ready(base + "/healthz")
        body = json.dumps({"type": "contact", "id": contact_id})
        request = urllib.request.Request(
            base + PREFIX + "/token",
            data=body.encode(),
            method="POST",
            headers={"Authorization": f"Bearer {api_token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        get_lua = _lua(tmp / "get.lua", "GET", api_token, None)
        post_lua = _lua(tmp / "post.lua", "POST", api_token, body)
        _wrk(base + "/healthz", 1)  # warm-up
        rps = {
            "healthz": _wrk(base + "/healthz", seconds),
            "config": _wrk(base + PREFIX + "/config", seconds, get_lua),
            "token": _wrk(base + PREFIX + "/token", seconds, post_lua),
        }
        if one_connection:
            rps["healthz-c1"] = _wrk(base + "/healthz", seconds, connections=1)
            rps["config-c1"] = _wrk(base + PREFIX + "/config", seconds, get_lua, connections=1)
        return rps
    finally:
        _stop(server)


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()


def measure_thread_hop(seconds: int) -> dict[str, float]:
    """Requests per second of the bare app's three routes (``loop``, ``executor``, ``anyio``)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "benchmarks.bare_fastapi:app", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log", "--log-level", "warning"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_ready(base + "/loop")
        _wrk(base + "/loop", 1)  # warm-up
        return {route: _wrk(f"{base}/{route}", seconds) for route in ("loop", *HOPS)}
    finally:
        _stop(server)


def run(quick: bool = False) -> list[Figure]:
    """Measure both hosts and return the figures."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does it)")
    seconds = 3 if quick else 8
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        for host in HOSTS:
            rps = measure_host(host, seconds, Path(tmp), one_connection=host == "flask")
            for endpoint, target in TARGETS.items():
                ratio = rps[endpoint] / rps["healthz"]
                figures.append(
                    Figure(
                        f"{host}: {endpoint} req/s vs /healthz",
                        rps[endpoint],
                        rps["healthz"],
                        "r/s",
                        ratio,
                        f">= {target:.2f}",
                        ratio >= target,
                    )
                )
        ratio = rps["config-c1"] / rps["healthz-c1"]
        figures.append(
            Figure(
                ONE_CONNECTION_ROW,
                rps["config-c1"],
                rps["healthz-c1"],
                "r/s",
                ratio,
                "context",
                None,
                note="wrk -c1: one request at a time, no GIL hand-offs between server threads",
            )
        )
    hop = measure_thread_hop(seconds)
    for route, name in HOPS.items():
        figures.append(
            Figure(
                name,
                hop[route],
                hop["loop"],
                "r/s",
                hop[route] / hop["loop"],
                "context",
                None,
                note="no library: the cost of one hop from the event loop to a worker thread",
            )
        )
    return figures
