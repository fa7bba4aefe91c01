"""The Flask demo host: its own ``/healthz``, the Client Portal extension, and one page
of its own behind the portal (an invoice of the signed-in client)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

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

__all__ = ["HOST", "SERVER_THREADS", "TrustedProxies", "create_app", "serve"]

#: waitress worker threads. The core does blocking database and SMTP I/O, so
#: more than waitress's default 4; below SQLAlchemy's default pool limit (15)
#: so no thread waits for a database connection.
SERVER_THREADS = 8
_IDENT = "client-portal-demo"


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


class TrustedProxies:
    """WSGI middleware: ``X-Forwarded-For`` and ``X-Forwarded-Proto`` from trusted proxies only.

    What uvicorn does with ``--forwarded-allow-ips``: when the connection
    comes from a trusted address, the client is the right-most address of
    ``X-Forwarded-For`` that is not itself trusted; from anyone else, both
    headers are ignored.

    :param app: the WSGI app.
    :param allowed: comma-separated addresses and networks, or ``*``.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], allowed: str) -> None:
        self.app = app
        self.everyone = allowed.strip() == "*"
        self.networks = (
            []
            if self.everyone
            else [ipaddress.ip_network(item.strip(), strict=False) for item in allowed.split(",")]
        )

    def trusted(self, address: str) -> bool:
        """Whether ``address`` is one of the trusted proxies."""
        if self.everyone:
            return True
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if self.trusted(environ.get("REMOTE_ADDR", "")):
            chain = [hop.strip() for hop in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
            client = next((hop for hop in reversed(chain) if hop and not self.trusted(hop)), None)
            if client is None and chain and chain[0]:
                client = chain[0]  # every hop is trusted: the first one is the client
            if client:
                environ["REMOTE_ADDR"] = client
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").strip()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        else:  # as waitress does by default: the app never sees a client's claims
            environ.pop("HTTP_X_FORWARDED_FOR", None)
            environ.pop("HTTP_X_FORWARDED_PROTO", None)
        return self.app(environ, start_response)


def serve(app: Flask, host: str, port: int, forwarded_allow_ips: str | None = None) -> None:
    """Run ``app`` on waitress (a production WSGI server) until interrupted.

    Proxy headers are trusted only from ``forwarded_allow_ips`` (see
    :class:`TrustedProxies`); by default the client address is the connection's.
    """
    if forwarded_allow_ips is None:  # waitress drops the proxy headers by default
        waitress.serve(app, host=host, port=port, threads=SERVER_THREADS, ident=_IDENT)
        return
    waitress.serve(
        TrustedProxies(app, forwarded_allow_ips),
        host=host,
        port=port,
        threads=SERVER_THREADS,
        ident=_IDENT,
        # TrustedProxies decides (waitress's own trusted_proxy takes one address).
        clear_untrusted_proxy_headers=False,
    )


#: This host, as the shared command line sees it.
HOST = HostApp(
    command="python -m examples.flask_host",
    framework="Flask",
    server="waitress",
    create_app=create_app,
    serve=serve,
)
