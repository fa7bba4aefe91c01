"""The Jinja2 templates of emails and portal pages, rendered in the reader's language.

Every template renders through :meth:`Renderer.render` with a locale. Text in
templates is marked for translation (``{{ _("Sign out") }}``, ``{% trans %}``;
Jinja2's ``i18n`` extension, new-style gettext), and dates are formatted with
:meth:`Renderer.format_datetime`, so the same template serves every language.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape

from .settings import Settings

__all__ = ["DEFAULT_LOCALE", "Renderer", "human_date"]

#: The language of the built-in texts, and the fallback of every negotiation.
DEFAULT_LOCALE = "en"


def human_date(moment: datetime) -> str:
    """A date and time for people, in UTC: ``January 31, 2030 at 12:00 UTC``."""
    return moment.astimezone(UTC).strftime("%B %d, %Y at %H:%M UTC")


class Renderer:
    """Renders the library's templates: the host's ``template_dirs`` first, then
    the built-in ones. HTML templates are autoescaped.

    :param settings: the portal's settings.
    """

    def __init__(self, settings: Settings) -> None:
        loaders: list[Any] = [FileSystemLoader(path) for path in settings.template_dirs]
        loaders.append(PackageLoader("client_portal_core", "templates"))
        self.environment = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(["html"]),
            keep_trailing_newline=True,
            extensions=["jinja2.ext.i18n"],
        )
        self.environment.install_null_translations(newstyle=True)  # type: ignore[attr-defined]

    @property
    def locales(self) -> tuple[str, ...]:
        """The locales texts can be rendered in."""
        return (DEFAULT_LOCALE,)

    def negotiate(self, *preferred: str | None, accept_language: str | None = None) -> str:
        """The first of ``preferred`` that is available, else the best match of an
        ``Accept-Language`` header, else :data:`DEFAULT_LOCALE`."""
        for locale in preferred:
            if locale in self.locales:
                return locale
        return DEFAULT_LOCALE

    def format_datetime(self, moment: datetime, locale: str = DEFAULT_LOCALE) -> str:
        """A date and time for people, in the locale's format (UTC)."""
        return human_date(moment)

    def format_date(self, moment: date, locale: str = DEFAULT_LOCALE) -> str:
        """A calendar date for people, in the locale's format (a datetime: its UTC date)."""
        if isinstance(moment, datetime):
            moment = moment.astimezone(UTC).date()
        return f"{moment:%B} {moment.day}, {moment.year}"

    def render(self, name: str, *, locale: str = DEFAULT_LOCALE, **context: Any) -> str:
        """Render template ``name`` in ``locale``; ``context`` are its variables.

        Templates also get ``locale``, ``format_datetime(moment)`` and
        ``format_date(day)``.
        """
        template = self.environment.get_template(name)
        return template.render(
            locale=locale,
            format_datetime=lambda moment: self.format_datetime(moment, locale),
            format_date=lambda day: self.format_date(day, locale),
            **context,
        )
