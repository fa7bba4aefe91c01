"""The Jinja2 templates of emails and portal pages, and how dates read in them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape

from .settings import Settings

__all__ = ["build_templates", "human_date"]


def build_templates(settings: Settings) -> Environment:
    """The template environment: the host's ``template_dirs`` first, then the built-in ones.

    HTML templates are autoescaped.
    """
    loaders: list[Any] = [FileSystemLoader(path) for path in settings.template_dirs]
    loaders.append(PackageLoader("client_portal_core", "templates"))
    return Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(["html"]),
        keep_trailing_newline=True,
    )


def human_date(moment: datetime) -> str:
    """A date and time for people, in UTC: ``January 31, 2030 at 12:00 UTC``."""
    return moment.astimezone(UTC).strftime("%B %d, %Y at %H:%M UTC")
