"""Requests per second of the example hosts, against each host's own ``/healthz``.

Each host runs as a real ``serve`` process (uvicorn or waitress) on SQLite
with seeded data and a rate limit high enough never to trigger; ``wrk`` loads
``GET /healthz``, ``GET /config`` and ``POST /token`` (an existing token) in
turn, in the same run on the same machine.
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


def _wrk(url: str, seconds: int, lua: Path | None = None) -> float:
    command = ["wrk", "-t1", "-c16", f"-d{seconds}s", "--latency"]
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


def measure_host(host: str, seconds: int, tmp: Path) -> dict[str, float]:
    """Requests per second of healthz, config and token on one example host."""
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
        [sys.executable, "-m", module, "serve", "--port", str(port), "--database-url", database,
         "--rate-limit", "100000000/minute", "--secret-key", "benchmark-secret-key-0123456789"],
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
        return {
            "healthz": _wrk(base + "/healthz", seconds),
            "config": _wrk(base + PREFIX + "/config", seconds, get_lua),
            "token": _wrk(base + PREFIX + "/token", seconds, post_lua),
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def run(quick: bool = False) -> list[Figure]:
    """Measure both hosts and return the figures."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does it)")
    seconds = 3 if quick else 8
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        for host in HOSTS:
            rps = measure_host(host, seconds, Path(tmp))
            for endpoint, target in (("config", 0.5), ("token", 0.35)):
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
    return figures
