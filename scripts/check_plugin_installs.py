"""Install the example plugins as users do and serve them from the unmodified example hosts.

Run by ``make plugin-check`` (part of ``make test`` and so of CI):

1. build the product's wheel and install it with ``[fastapi,flask,redis,examples]``
   into a fresh virtualenv, then ``pip install`` (not editable) both example
   plugins, ``examples/plugins/http_mailer`` and ``examples/plugins/redis_token_store``;
2. check that, run from the checkout with ``PYTHONPATH`` at the repository
   root (``examples/`` is not in the wheel), the venv's Python imports the
   library and the plugins from the venv and only ``examples`` from the checkout;
3. for each host (``python -m examples.fastapi_host`` and ``examples.flask_host``):
   seed a database, add a webhook, ``serve`` it with the plugins configured
   only by ``CLIENT_PORTAL_PLUGIN_*`` variables, and check that the banner
   names both plugins, that ``POST /token`` (twice: the same token), an
   invitation (delivered to a stand-in email API on 127.0.0.1), the portal
   page and the webhooks (token_created, invitation_sent, token_accessed)
   all work with the tokens in Redis and none in the SQL table, and that
   ``invite-bulk`` sends through the mailer plugin too.

Exits non-zero with a one-line reason on the first problem. Needs the Redis
server on 127.0.0.1:6379.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = (ROOT / "examples/plugins/http_mailer", ROOT / "examples/plugins/redis_token_store")
HOSTS = ("examples.fastapi_host", "examples.flask_host")
SECRET_KEY = "plugin-check-secret-key-0123456789"
API_KEY = "plugin-check-api-key"
API = "/api/v1/client-portal"
REDIS_URL = "redis://127.0.0.1:6379/0"
DEADLINE = 60.0


class PluginCheckProblem(Exception):
    """What went wrong, in one line."""


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-15:]
        raise PluginCheckProblem(f"{' '.join(map(str, command))} failed:\n" + "\n".join(tail))
    return result.stdout


# -- loopback servers standing in for the email API and a webhook receiver --------


class Recorder(ThreadingHTTPServer):
    """Keeps every JSON body POSTed to it; answers 202."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.bodies: list[dict[str, Any]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def wait_for(self, count: int, what: str) -> list[dict[str, Any]]:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.bodies) >= count:
                    return list(self.bodies)
            time.sleep(0.05)
        raise PluginCheckProblem(f"{what}: {count} expected, got {len(self.bodies)}")


class _RecordingHandler(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.bodies.append(body)
            self.server.headers_seen.append(dict(self.headers))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# -- HTTP client ------------------------------------------------------------------


def call(
    method: str, url: str, token: str | None = None, body: Any = None
) -> tuple[int, bytes, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_healthz(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PluginCheckProblem(f"the server exited ({process.returncode}) before answering")
        try:
            if call("GET", url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise PluginCheckProblem(f"{url} did not answer within {DEADLINE:.0f} s")


# -- the checks -------------------------------------------------------------------


def make_venv(workdir: Path) -> Path:
    """A fresh virtualenv with the product's wheel and both plugins, none editable."""
    dist = workdir / "dist"
    run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, ROOT)
    [wheel] = dist.glob("*.whl")
    env_dir = workdir / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", f"{wheel}[fastapi,flask,redis,examples]")
    # pip builds each plugin's wheel from its folder and installs that: not editable.
    run(python, "-m", "pip", "install", "--quiet", *PLUGINS)
    return python


def check_imports(python: Path, env: dict[str, str]) -> None:
    """The library and plugins come from the venv; only ``examples`` from the checkout."""
    code = (
        "import json, client_portal_core, client_portal_fastapi, cp_http_mailer, "
        "cp_redis_token_store, examples; print(json.dumps({m.__name__: m.__file__ for m in "
        "(client_portal_core, client_portal_fastapi, cp_http_mailer, cp_redis_token_store, "
        "examples)}))"
    )
    where = json.loads(run(python, "-c", code, cwd=ROOT, env=env))
    venv_dir = str(python.parents[1])
    for name, path in where.items():
        expected = str(ROOT / "examples") if name == "examples" else venv_dir
        if not str(path).startswith(expected):
            raise PluginCheckProblem(f"{name} was imported from {path}, not {expected}")
    print(f"plugins: library and plugins import from the venv, examples from {ROOT}")


def host_env(python: Path, api_url: str, prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENT_PORTAL_")}
    env.pop("VIRTUAL_ENV", None)
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{python.parent}{os.pathsep}{env.get('PATH', '')}",
            "CLIENT_PORTAL_PLUGIN_HTTP_MAILER_API_URL": api_url,
            "CLIENT_PORTAL_PLUGIN_HTTP_MAILER_API_KEY": API_KEY,
            "CLIENT_PORTAL_PLUGIN_REDIS_TOKEN_STORE_URL": REDIS_URL,
            "CLIENT_PORTAL_PLUGIN_REDIS_TOKEN_STORE_KEY_PREFIX": prefix,
        }
    )
    return env


def sql_token_rows(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        return int(conn.execute("SELECT count(*) FROM client_portal_portal_tokens").fetchone()[0])


def redis_token_keys(prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return sum(1 for _ in client.scan_iter(match=f"{prefix}:token:*"))
    finally:
        client.close()


def forget_redis(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
    finally:
        client.close()


def check_host(python: Path, host: str, workdir: Path) -> None:
    prefix = f"cp-plugin-check-{uuid.uuid4().hex[:12]}"
    database = workdir / f"{host.split('.')[-1]}.db"
    url = f"sqlite:///{database}"
    common = ("--database-url", url, "--secret-key", SECRET_KEY)
    with recorder() as provider, recorder() as receiver:
        env = host_env(python, provider.url + "v1/messages", prefix)
        try:
            seeded = json.loads(run(python, "-m", host, "seed", *common, cwd=ROOT, env=env))
            tenant = seeded["tenants"][0]
            contact = next(c for c in tenant["contacts"] if c["email"])
            tid = str(tenant["id"])
            run(python, "-m", host, "add-webhook", *common, "--tenant", tid,
                "--url", receiver.url, cwd=ROOT, env=env)  # fmt: skip
            port = free_port()
            log = (workdir / f"{host}.log").open("w+")
            server = subprocess.Popen(
                [str(python), "-m", host, "serve", "--port", str(port), *common],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                wait_for_healthz(base + "/healthz", server)
                serve_contract(base, tenant, contact, provider, receiver, database, prefix, log)
            finally:
                server.terminate()
                server.wait(30)
                log.close()
            bulk = subprocess.run(
                [str(python), "-m", host, "invite-bulk", *common, "--tenant", tid,
                 "--all-contacts"],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            report = json.loads(bulk.stdout)
            with_email = sum(1 for c in tenant["contacts"] if c["email"])
            if report["sent"] != with_email or "from plugin http_mailer" not in bulk.stderr:
                raise PluginCheckProblem(f"{host} invite-bulk: {report} / {bulk.stderr[-300:]}")
            provider.wait_for(1 + with_email, f"{host} invite-bulk emails at the email API")
        finally:
            forget_redis(prefix)
    print(f"plugins: {host} served the HTTP contract with both plugins (mail API, Redis tokens)")


def serve_contract(
    base: str,
    tenant: dict[str, Any],
    contact: dict[str, Any],
    provider: Recorder,
    receiver: Recorder,
    database: Path,
    prefix: str,
    log: Any,
) -> None:
    log.flush()
    log.seek(0)
    banner = log.read()
    for needed in (
        "mail: HttpApiMailer from plugin http_mailer, client-portal-http-mailer 0.1.0",
        "token store: RedisTokenStore from plugin redis_token_store, "
        "client-portal-redis-token-store 0.1.0",
    ):
        if needed not in banner:
            raise PluginCheckProblem(f"the banner lacks {needed!r}: {banner[-500:]}")
    token, api = tenant["api_token"], base + API
    subject = {"type": "contact", "id": contact["id"]}
    status, first, _ = call("POST", api + "/token", token, subject)
    status_again, again, _ = call("POST", api + "/token", token, subject)
    if (status, status_again) != (200, 200) or json.loads(first) != json.loads(again):
        raise PluginCheckProblem(f"POST /token: {status} {first!r} then {status_again} {again!r}")
    status, body, _ = call("POST", f"{api}/contacts/{contact['id']}/invite", token, {})
    if status != 200 or json.loads(body)["token"] != json.loads(first)["token"]:
        raise PluginCheckProblem(f"invite answered {status} {body!r}")
    [email] = provider.wait_for(1, "invitation at the email API")
    portal_url = json.loads(first)["url"]
    if email["to"] != contact["email"] or portal_url not in email["text"]:
        raise PluginCheckProblem(f"the email API got {email['to']}, without the link")
    if provider.headers_seen[0].get("Authorization") != f"Bearer {API_KEY}":
        raise PluginCheckProblem("the email API did not get the configured key")
    status, _page, _ = call("GET", portal_url)
    if status not in (200, 303):
        raise PluginCheckProblem(f"the portal page answered {status}")
    if sql_token_rows(database) != 0 or redis_token_keys(prefix) != 1:
        raise PluginCheckProblem("the token is not (only) in Redis")
    events = receiver.wait_for(3, "webhooks")
    kinds = {event["type"] for event in events}
    expected = {
        "client_portal.token_created",
        "client_portal.invitation_sent",
        "client_portal.token_accessed",
    }
    if not expected <= kinds:
        raise PluginCheckProblem(f"webhooks received {sorted(kinds)}")


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cp-plugins-") as folder:
        workdir = Path(folder)
        try:
            python = make_venv(workdir)
            print("plugins: wheel and both example plugins pip-installed in a fresh virtualenv")
            check_imports(python, host_env(python, "http://127.0.0.1:9/", "unused"))
            for host in HOSTS:
                check_host(python, host, workdir)
        except PluginCheckProblem as exc:
            print(f"plugin check failed: {exc}", file=sys.stderr)
            return 1
    print(f"plugins: all checks passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
