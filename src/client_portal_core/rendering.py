"""The Jinja2 templates of emails and portal pages, rendered in the reader's language.

Every template renders through :meth:`Renderer.render` with a locale. Text in
templates is marked for translation (``{{ _("Sign out") }}``, ``{% trans %}``;
Jinja2's ``i18n`` extension, new-style gettext, trimmed), and dates are
formatted with ``format_datetime(moment)``, so the same template serves every
language.

Translations are gettext catalogs (Babel): ``<folder>/<locale>/LC_MESSAGES/
client_portal.mo``. The folders of ``Settings.locale_dirs`` are searched
before the built-in ones (``client_portal_core/locales``): a host adds a
language by dropping a catalog there, or overrides some of the built-in texts.
Each render gets its own ``gettext``/``ngettext`` in its context, never
through the shared environment, so concurrent renders in different languages
cannot mix.
"""

from __future__ import annotations

import gettext as stdlib_gettext
import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError, negotiate_locale, parse_locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.support import Translations
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape
from jinja2.runtime import Context
from jinja2.utils import pass_context
from markupsafe import Markup

from .settings import Settings

__all__ = [
    "BUILTIN_LOCALE_DIR",
    "CATALOG_DOMAIN",
    "DEFAULT_LOCALE",
    "Renderer",
    "human_date",
    "parse_accept_language",
    "readable_text_color",
]

logger = logging.getLogger("client_portal_core")

#: The language of the built-in texts, and the fallback of every negotiation.
DEFAULT_LOCALE = "en"
#: The gettext domain of the library's catalogs (``client_portal.po`` / ``.mo``).
CATALOG_DOMAIN = "client_portal"
#: The catalogs shipped with the library: ``<locale>/LC_MESSAGES/client_portal.mo``.
BUILTIN_LOCALE_DIR = Path(__file__).with_name("locales")

_NARROW_NBSP, _NBSP = "\u202f", "\u00a0"
#: WCAG's minimum contrast for large or bold text and interface parts.
_MIN_BUTTON_CONTRAST = 3.0
#: More languages than any browser sends with meaning: the rest is ignored.
_MAX_ACCEPT_LANGUAGE_ITEMS = 20


def human_date(moment: datetime) -> str:
    """A date and time for people, in UTC: ``January 31, 2030 at 12:00 UTC``."""
    return moment.astimezone(UTC).strftime("%B %d, %Y at %H:%M UTC")


def parse_accept_language(header: str | None) -> list[str]:
    """The language tags of an ``Accept-Language`` header, most wanted first.

    Tags come back with ``_`` separators (``de_AT``); ``q=0`` and ``*`` are
    dropped, equal weights keep the header's order, malformed items are skipped.
    """
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:_MAX_ACCEPT_LANGUAGE_ITEMS]):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip()
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if not tag or tag == "*" or not 0 < quality <= 1:
            continue
        try:
            parse_locale(tag, sep="-" if "-" in tag else "_")
        except ValueError:
            continue
        weighted.append((-quality, position, tag.replace("-", "_")))
    return [tag for _q, _p, tag in sorted(weighted)]


def readable_text_color(background: str, dark: str = "#111827", light: str = "#FFFFFF") -> str:
    """``light`` on a ``#RRGGBB`` background while it keeps a WCAG contrast of at
    least 3:1 (bold button text on a brand colour), else ``dark``: white on
    blue or orange, ink on yellow or pale green.

    The templates' filter ``readable_on``: ``color:{{ config.primary_color | readable_on }}``.
    """

    def luminance(color: str) -> float:
        channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    try:
        back = luminance(background)
    except (ValueError, IndexError):
        return light
    contrast_light = (luminance(light) + 0.05) / (back + 0.05)
    return light if contrast_light >= _MIN_BUTTON_CONTRAST else dark


def _newstyle_callables(translations: stdlib_gettext.NullTranslations) -> dict[str, Any]:
    """``gettext`` and ``ngettext`` for one render, as Jinja2's new-style i18n expects.

    Like ``Environment.install_gettext_callables(newstyle=True)``, but bound to
    one catalog and handed to a single render instead of the shared environment.
    As there, a translated text counts as template source (trusted markup) and
    its ``%(name)s`` variables are escaped: never pass a variable to ``_()``;
    translate values with :meth:`Renderer.gettext` and let autoescaping work.
    """

    @pass_context
    def gettext(context: Context, message: str, **variables: Any) -> str:
        text: str = translations.gettext(message)
        if context.eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 - catalog text is template source
        return text % variables

    @pass_context
    def ngettext(context: Context, singular: str, plural: str, num: int, **variables: Any) -> str:
        variables.setdefault("num", num)
        text: str = translations.ngettext(singular, plural, num)
        if context.eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 - catalog text is template source
        return text % variables

    return {"gettext": gettext, "ngettext": ngettext}


def _catalog_locales(folder: Path) -> list[str]:
    """The locales that have a compiled catalog of ours in ``folder``."""
    if not folder.is_dir():
        return []
    return sorted(
        child.name
        for child in folder.iterdir()
        if (child / "LC_MESSAGES" / f"{CATALOG_DOMAIN}.mo").is_file()
    )


def _canonical(locale: str) -> str | None:
    """``de``, ``de_AT``... for a tag Babel knows, else ``None``."""
    try:
        return str(Locale.parse(locale.replace("-", "_")))
    except (ValueError, UnknownLocaleError):
        return None


class Renderer:
    """Renders the library's templates: the host's ``template_dirs`` first, then
    the built-in ones, in any installed locale. HTML templates are autoescaped.

    :param settings: the portal's settings (``template_dirs``, ``locale_dirs``).
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
        self.environment.filters["readable_on"] = readable_text_color
        # {% trans %} blocks collapse their whitespace, as `make catalogs` extracts them.
        self.environment.policies["ext.i18n.trimmed"] = True
        # Only a fallback (and the new-style switch): each render passes its own.
        self.environment.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
        folders = [Path(path) for path in settings.locale_dirs] + [BUILTIN_LOCALE_DIR]
        self._translations = self._load_catalogs(folders)
        self._callables = {
            locale: _newstyle_callables(translations)
            for locale, translations in self._translations.items()
        }
        self._by_lower = {locale.lower(): locale for locale in self._translations}

    @staticmethod
    def _load_catalogs(folders: list[Path]) -> dict[str, stdlib_gettext.NullTranslations]:
        """One merged catalog per locale: earlier folders override later ones."""
        found: dict[str, list[Path]] = {}
        for folder in folders:
            for locale in _catalog_locales(folder):
                if _canonical(locale) is None:
                    logger.warning("ignoring catalog %s: not a locale Babel knows", locale)
                    continue
                found.setdefault(locale, []).append(
                    folder / locale / "LC_MESSAGES" / f"{CATALOG_DOMAIN}.mo"
                )
        loaded: dict[str, stdlib_gettext.NullTranslations] = {
            DEFAULT_LOCALE: stdlib_gettext.NullTranslations()
        }
        for locale, files in found.items():
            merged: Translations | None = None
            for path in reversed(files):  # lowest priority first, each later one overrides
                with path.open("rb") as fp:
                    catalog = Translations(fp, domain=CATALOG_DOMAIN)
                if merged is None:
                    merged = catalog
                else:
                    merged.merge(catalog)
                    merged.plural = catalog.plural  # the overriding catalog's plural rule
            assert merged is not None  # every found locale has at least one file
            loaded[locale] = merged
        # A regional catalog (de_AT) falls back to its language's (de) for what it lacks.
        for locale, translations in loaded.items():
            language = locale.split("_")[0]
            if language != locale and language in loaded:
                translations.add_fallback(loaded[language])
        return loaded

    @property
    def locales(self) -> tuple[str, ...]:
        """The locales texts can be rendered in: :data:`DEFAULT_LOCALE` and every catalog."""
        return tuple(sorted(self._translations, key=lambda name: (name != DEFAULT_LOCALE, name)))

    def match_locale(self, *tags: str | None) -> str | None:
        """The installed locale the first matching tag asks for, or ``None``.

        ``de``, ``DE``, ``de-DE`` and ``de_AT`` all match a ``de`` catalog
        (a region falls back to its language when it has no catalog of its own).
        """
        wanted = [tag.replace("-", "_") for tag in tags if tag]
        if not wanted:
            return None
        try:
            match = negotiate_locale(wanted, list(self._translations), sep="_")
        except ValueError:
            return None
        return None if match is None else self._by_lower.get(match.lower())

    def negotiate(self, *preferred: str | None, accept_language: str | None = None) -> str:
        """The first of ``preferred`` that is installed, else the best match of an
        ``Accept-Language`` header (q-values honoured), else :data:`DEFAULT_LOCALE`."""
        for tag in preferred:
            match = self.match_locale(tag)
            if match is not None:
                return match
        for tag in parse_accept_language(accept_language):
            match = self.match_locale(tag)
            if match is not None:
                return match
        return DEFAULT_LOCALE

    def translations(self, locale: str) -> stdlib_gettext.NullTranslations:
        """The catalog of ``locale`` (the default language's when it is not installed)."""
        return self._translations.get(locale) or self._translations[DEFAULT_LOCALE]

    def gettext(self, locale: str, message: str) -> str:
        """``message`` translated into ``locale`` (unchanged when the catalog lacks it).

        The result is plain text: escape it like any other value.
        """
        return self.translations(locale).gettext(message)

    @staticmethod
    def _babel_locale(locale: str) -> Locale:
        try:
            return Locale.parse(locale)
        except (ValueError, UnknownLocaleError):
            return Locale.parse(DEFAULT_LOCALE)

    def format_datetime(self, moment: datetime, locale: str = DEFAULT_LOCALE) -> str:
        """A date and time for people, in the locale's long date and short time (UTC).

        ``January 31, 2030, 12:00 PM UTC``; ``31. Januar 2030, 12:00 UTC`` (a
        no-break space before ``PM``).
        """
        babel_locale = self._babel_locale(locale)
        date_pattern = babel_locale.date_formats["long"].pattern
        time_pattern = babel_locale.time_formats["short"].pattern
        pattern = babel_locale.datetime_formats["long"].format(time_pattern, date_pattern)
        text = babel_format_datetime(
            moment.astimezone(UTC), pattern, tzinfo=UTC, locale=babel_locale
        )
        # CLDR puts a narrow no-break space before "PM"; older mail fonts lack it.
        return f"{text.replace(_NARROW_NBSP, _NBSP)} UTC"

    def format_date(self, moment: date, locale: str = DEFAULT_LOCALE) -> str:
        """A calendar date for people, in the locale's format (a datetime: its UTC date)."""
        if isinstance(moment, datetime):
            moment = moment.astimezone(UTC).date()
        return str(babel_format_date(moment, "long", locale=self._babel_locale(locale)))

    def render(self, name: str, *, locale: str = DEFAULT_LOCALE, **context: Any) -> str:
        """Render template ``name`` in ``locale``; ``context`` are its variables.

        Templates also get ``locale``, ``gettext``/``ngettext`` (and ``_``)
        bound to that locale's catalog, ``format_datetime(moment)`` and
        ``format_date(day)``. A locale that is not installed renders in
        :data:`DEFAULT_LOCALE`.
        """
        if locale not in self._translations:
            locale = DEFAULT_LOCALE
        template = self.environment.get_template(name)
        return template.render(
            **self._callables[locale],
            locale=locale,
            format_datetime=lambda moment: self.format_datetime(moment, locale),
            format_date=lambda day: self.format_date(day, locale),
            **context,
        )
