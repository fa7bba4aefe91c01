"""Client Portal demo host on FastAPI; run ``python -m examples.fastapi_host --help``."""

from __future__ import annotations

from .app import HOST, create_app

__all__ = ["HOST", "create_app"]
