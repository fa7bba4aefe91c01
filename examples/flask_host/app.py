"""The Flask demo host: its own ``/healthz`` plus the Client Portal extension."""

from __future__ import annotations

import waitress  # type: ignore[import-untyped]  # ships no type hints
from flask import Flask, Response

from client_portal_core import ClientPortal
from client_portal_flask import ClientPortalFlask
from examples.host_common import HostApp

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
