"""The FastAPI demo host: its own ``/healthz`` plus the Client Portal router."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from client_portal_core import ClientPortal
from client_portal_fastapi import create_router
from examples.host_common import HostApp

__all__ = ["HOST", "create_app", "serve"]


def create_app(portal: ClientPortal) -> FastAPI:
    """The host app with the portal mounted at the paths of ``portal.settings``."""
    app = FastAPI(title="Client Portal demo host (FastAPI)")
    app.state.portal = portal

    # async: answered on the event loop without a thread hop, and the library
    # is not involved, so it is the baseline for overhead benchmarks.
    @app.api_route("/healthz", methods=["GET", "HEAD"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(create_router(portal))
    return app


def serve(app: FastAPI, host: str, port: int, forwarded_allow_ips: str | None = None) -> None:
    """Run ``app`` on uvicorn until interrupted (no access log: it would dominate output).

    Proxy headers are trusted only from ``forwarded_allow_ips``: uvicorn's own
    default trusts ``X-Forwarded-For`` from loopback, which would let any local
    client (or a proxy that passes the header on) choose its recorded address.
    """
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_level="info",
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips or "",
    )


#: This host, as the shared command line sees it.
HOST = HostApp(
    command="python -m examples.fastapi_host",
    framework="FastAPI",
    server="uvicorn",
    create_app=create_app,
    serve=serve,
)
