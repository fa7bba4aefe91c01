"""The FastAPI demo host: its own ``/healthz``, the Client Portal router, and one page
of its own behind the portal (an invoice of the signed-in client)."""

from __future__ import annotations

import uvicorn
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse, Response

from client_portal_core import ClientPortal, PortalClient
from client_portal_fastapi import create_router, portal_client_dependency
from examples.host_common import HostApp
from examples.host_common.pages import (
    LOGO_PATH,
    LOGO_SVG,
    find_invoice,
    invoice_page,
    not_found_page,
)

__all__ = ["HOST", "create_app", "serve"]


def create_app(portal: ClientPortal) -> FastAPI:
    """The host app with the portal mounted at the paths of ``portal.settings``."""
    app = FastAPI(title="Client Portal demo host (FastAPI)")
    app.state.portal = portal
    portal_path = portal.settings.portal_path

    # async: answered on the event loop without a thread hop, and the library
    # is not involved, so it is the baseline for overhead benchmarks.
    @app.api_route("/healthz", methods=["GET", "HEAD"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(LOGO_PATH)
    async def logo() -> Response:
        return Response(LOGO_SVG, media_type="image/svg+xml")

    app.include_router(create_router(portal))
    signed_in = portal_client_dependency(app, portal)

    # The host's own page: under the portal path, where the session cookie goes.
    @app.get(portal_path + "/invoices/{invoice_id}", response_class=HTMLResponse)
    def invoice(invoice_id: int, client: PortalClient = Depends(signed_in)) -> HTMLResponse:  # noqa: B008
        config = portal.get_config(client.tenant_id)
        found = find_invoice(portal.engine, client, invoice_id)
        if found is None:
            return HTMLResponse(not_found_page(config, portal_path), status_code=404)
        return HTMLResponse(invoice_page(config, portal_path, client, found))

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
