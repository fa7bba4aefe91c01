"""Smoke test of an installed wheel, run by scripts/check_package.py in a fresh virtualenv.

Imports the core and each adapter (an adapter whose extra is missing must fail
with an install hint), mounts each importable adapter on a tiny app and calls
``GET /config``; prints one JSON report of where each package was imported
from and what it answered.
"""

import importlib
import json
import pathlib
import tempfile

from client_portal_core import ClientPortal, Recipient, Settings, hookimpl


class Directory:
    @hookimpl
    def client_portal_find_recipient(self, tenant_id, subject_type, subject_id):
        return Recipient(subject_id, "Smoke Test", "smoke@example.com")


folder = pathlib.Path(tempfile.mkdtemp())
portal = ClientPortal(
    Settings.build(
        secret_key="smoke-test-key-0123456789",
        database_url=f"sqlite:///{folder}/p.db",
        load_entry_points=False,
    ),
    plugins=[Directory()],
)
portal.create_schema()
token = portal.create_api_token("smoke").token
headers = {"Authorization": f"Bearer {token}"}
report = {}
for name in ("client_portal_core", "client_portal_fastapi", "client_portal_flask"):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        report[name] = {"import_error": str(exc)}
        continue
    report[name] = {"file": module.__file__}
# The compiled catalogs ship in the wheel: the installed package speaks German.
german = portal.preview_invitation("smoke", "contact", "1", locale="de")
report["client_portal_core"]["locales"] = list(portal.renderer.locales)
report["client_portal_core"]["german_subject"] = german.subject
if "file" in report["client_portal_fastapi"]:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from client_portal_fastapi import create_router

    app = FastAPI()
    app.include_router(create_router(portal))
    reply = TestClient(app).get("/api/v1/client-portal/config", headers=headers)
    name = reply.json()["data"]["portal_name"]
    report["client_portal_fastapi"]["config"] = [reply.status_code, name]
if "file" in report["client_portal_flask"]:
    from flask import Flask

    from client_portal_flask import ClientPortalFlask

    app = Flask("smoke")
    ClientPortalFlask(portal, app)
    reply = app.test_client().get("/api/v1/client-portal/config", headers=headers)
    name = reply.get_json()["data"]["portal_name"]
    report["client_portal_flask"]["config"] = [reply.status_code, name]
print(json.dumps(report))
