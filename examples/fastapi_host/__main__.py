"""``python -m examples.fastapi_host serve|seed|add-webhook ...``"""

from __future__ import annotations

from examples.fastapi_host.app import HOST
from examples.host_common import main

raise SystemExit(main(HOST))
