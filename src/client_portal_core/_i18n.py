"""Marking Python strings for translation without translating them yet.

``N_("...")`` returns its argument unchanged; ``pybabel extract`` (``-k N_``,
see ``make catalogs``) collects it into the catalogs. The text is translated
where it is shown, in the reader's locale: for example an error message that
reaches a portal page through :meth:`Renderer.gettext
<client_portal_core.rendering.Renderer.gettext>`.
"""

from __future__ import annotations

__all__ = ["N_"]


def N_(message: str) -> str:
    """Mark ``message`` for extraction; translated later, where it is shown."""
    return message
