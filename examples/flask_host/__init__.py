"""Client Portal demo host on Flask; run ``python -m examples.flask_host --help``."""

from __future__ import annotations

from .app import HOST, create_app

__all__ = ["HOST", "create_app"]
