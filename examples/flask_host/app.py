"""The Flask demo host: its own ``/healthz``, the Client Portal extension, and one page
of its own behind the portal (an invoice of the signed-in client)."""

from __future__ import annotations

import waitress  # type: ignore[import-untyped]  # ships no type hints
from flask import Flask, Response, g

from client_portal_core import ClientPortal
from client_portal_flask import ClientPortalFlask, portal_client_required
from examples.host_common import HostApp
from examples.host_common.pages import (
    LOGO_PATH,
    LOGO_SVG,
    find_invoice,
    invoice_page,
    not_found_page,
)

__all__ = ["HOST", "SERVER_THREADS", "create_app", "serve"]

#: waitress worker threads. The core does blocking database and SMTP I/O, so
#: more than waitress's default 4; below SQLAlchemy's default pool limit (15)
#: so no thread waits for a database connection.
SERVER_THREADS = 8


def create_app(portal: ClientPortal) -> Flask:
    """The host app with the portal mounted at the paths of ``portal.settings``."""
    app = Flask(__name__)
    ClientPortalFlask(portal, app)

    # Not touching the library: the baseline for overhead benchmarks.
    @app.get("/healthz")
    def healthz() -> Response:
        # The same bytes as the FastAPI host's (jsonify would add a newline).
        return Response(b'{"status":"ok"}', mimetype="application/json")

    @app.get(LOGO_PATH)
    def logo() -> Response:
        return Response(LOGO_SVG, mimetype="image/svg+xml")

    portal_path = portal.settings.portal_path

    # The host's own page: under the portal path, where the session cookie goes.
    @app.get(portal_path + "/invoices/<int:invoice_id>")
    @portal_client_required
    def invoice(invoice_id: int) -> Response:
        client = g.portal_client
        config = portal.get_config(client.tenant_id)
        found = find_invoice(portal.engine, client, invoice_id)
        if found is None:
            return Response(not_found_page(config, portal_path), 404, mimetype="text/html")
        return Response(invoice_page(config, portal_path, client, found), mimetype="text/html")

    return app


def serve(app: Flask, host: str, port: int) -> None:
    """Run ``app`` on waitress (a production WSGI server) until interrupted."""
    waitress.serve(app, host=host, port=port, threads=SERVER_THREADS, ident="client-portal-demo")


#: This host, as the shared command line sees it.
HOST = HostApp(
    command="python -m examples.flask_host",
    framework="Flask",
    server="waitress",
    create_app=create_app,
    serve=serve,
)
