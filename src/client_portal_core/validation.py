"""What the library accepts as input, once, for every door (HTTP, Python, bulk, CLI).

Two kinds of caller text reach a recipient or the host's directory:

* a **custom message** (:func:`check_custom_message`): plain text of at most
  :data:`MAX_CUSTOM_MESSAGE_LENGTH` characters; line breaks and tabs are
  kept; control characters (C0 but tab, line feed and carriage return; DEL;
  C1), Unicode bidirectional formatting characters (U+061C, U+200E, U+200F,
  U+202A-U+202E, U+2066-U+2069, which can make an email display text in
  another order than it was written) and lone surrogates are refused;
* a **subject id** (:func:`check_subject_id`): an integer (its decimal
  form) or a string of 1 to :data:`MAX_SUBJECT_ID_LENGTH` characters with
  no control, bidirectional formatting or surrogate character, and no
  whitespace at either end. The directory receives exactly that string:
  nothing is stripped or normalized, so ``" 1"`` is not ``"1"``.

Each check has a JSON Schema pattern (:data:`CUSTOM_MESSAGE_PATTERN`,
:data:`SUBJECT_ID_PATTERN`), a valid ECMA-262 regular expression, that accepts
exactly the strings it accepts among those a JSON document can carry (all but
lone surrogates), for the OpenAPI document.
"""

from __future__ import annotations

import re
from typing import Final

from .errors import InvalidInput

__all__ = [
    "CUSTOM_MESSAGE_PATTERN",
    "CUSTOM_MESSAGE_PROBLEM",
    "MAX_CUSTOM_MESSAGE_LENGTH",
    "MAX_INTEGER_SUBJECT_ID",
    "MAX_SUBJECT_ID_LENGTH",
    "MIN_INTEGER_SUBJECT_ID",
    "SUBJECT_ID_PATH_PATTERN",
    "SUBJECT_ID_PATTERN",
    "SUBJECT_ID_PROBLEM",
    "WEBHOOK_URL_PATTERN",
    "check_custom_message",
    "check_subject_id",
    "require_custom_message",
    "subject_id_or_none",
]

#: The longest custom message, in characters.
MAX_CUSTOM_MESSAGE_LENGTH: Final = 2000
#: The longest subject id, in characters.
MAX_SUBJECT_ID_LENGTH: Final = 64
#: The integer ids whose decimal form fits :data:`MAX_SUBJECT_ID_LENGTH`.
MAX_INTEGER_SUBJECT_ID: Final = 10**MAX_SUBJECT_ID_LENGTH - 1
MIN_INTEGER_SUBJECT_ID: Final = -(10 ** (MAX_SUBJECT_ID_LENGTH - 1) - 1)

# Characters no caller text may hold: C0 controls, DEL, C1 controls, the
# bidirectional formatting characters (and lone surrogates, below).
_REFUSED = "\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069"
# In a message, tab, line feed and carriage return are text.
_REFUSED_IN_MESSAGE = _REFUSED.replace("\\x00-\\x1f", "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f")
# Lone surrogates have no UTF-8 form, so no JSON document on the wire carries
# one, and a surrogate range is no ECMA-262 (JSON Schema) regular expression
# in Unicode mode: the published patterns leave them out, the checks refuse them.
_SURROGATES = "\\ud800-\\udfff"
# What str.isspace() calls whitespace, less the controls refused anyway.
_SPACE = "\\x20\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"


def _message_pattern(refused: str) -> str:
    return f"^[^{refused}]*$"


def _subject_id_pattern(refused: str) -> str:
    return (
        f"^[^{refused}{_SPACE}](?:[^{refused}]{{0,{MAX_SUBJECT_ID_LENGTH - 2}}}"
        f"[^{refused}{_SPACE}])?(?![\\s\\S])"
    )


#: JSON Schema ``pattern`` of a custom message (its length is ``maxLength``).
CUSTOM_MESSAGE_PATTERN: Final = _message_pattern(_REFUSED_IN_MESSAGE)
#: JSON Schema ``pattern`` of a string subject id, its length included. It
#: ends in ``(?![\s\S])``, not ``$``, which Python's ``re`` also matches
#: before a final line feed: a generator following the pattern must not
#: produce ``"1\n"``.
SUBJECT_ID_PATTERN: Final = _subject_id_pattern(_REFUSED)
#: The same rule for an id in a URL path, less ``/``: servers decode ``%2F``
#: before they route, so no path segment carries one (such an id is sent as
#: the JSON ``id`` of ``POST /token`` instead).
SUBJECT_ID_PATH_PATTERN: Final = _subject_id_pattern(_REFUSED + "/")
_PORT = "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"


def _ipv6_pattern() -> str:
    """RFC 3986's ``IPv6address`` rule as a regular expression (no zone id)."""
    h16 = "[0-9A-Fa-f]{1,4}"
    octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])"
    ls32 = f"(?:{h16}:{h16}|{octet}(?:\\.{octet}){{3}})"
    forms = [f"(?:{h16}:){{6}}{ls32}", f"::(?:{h16}:){{5}}{ls32}"]
    for before, after in ((0, 4), (1, 3), (2, 2), (3, 1), (4, 0)):
        tail = f"(?:{h16}:){{{after}}}{ls32}" if after else ls32
        head = f"(?:(?:{h16}:){{0,{before}}}{h16})?" if before else f"(?:{h16})?"
        forms.append(f"{head}::{tail}")
    forms.append(f"(?:(?:{h16}:){{0,5}}{h16})?::{h16}")
    forms.append(f"(?:(?:{h16}:){{0,6}}{h16})?::")
    return "(?:" + "|".join(forms) + ")"


#: JSON Schema ``pattern`` (and the server's rule) of a webhook endpoint URL:
#: http or https (any case), a host (an RFC 3986 name, ASCII: an international
#: name in its ``xn--`` form, or a bracketed IP literal), an optional port, and
#: a path, query or fragment without spaces or control characters.
WEBHOOK_URL_PATTERN: Final = (
    "^[Hh][Tt][Tt][Pp][Ss]?://"
    f"(?:[A-Za-z0-9._~%!$&'()*+,;=-]+|\\[{_ipv6_pattern()}\\])"
    f"(?::{_PORT})?"
    "(?:[/?#][^\\x00-\\x20\\x7f-\\x9f]*)?(?![\\s\\S])"
)
#: The message of a refused custom message's characters.
CUSTOM_MESSAGE_PROBLEM: Final = (
    "must be plain text without control characters or bidirectional formatting characters"
)
#: The message of a refused subject id.
SUBJECT_ID_PROBLEM: Final = (
    f"must be an integer or 1 to {MAX_SUBJECT_ID_LENGTH} characters without control or "
    "bidirectional formatting characters and without whitespace at either end"
)

_MESSAGE = re.compile(_message_pattern(_REFUSED_IN_MESSAGE + _SURROGATES))
_SUBJECT_ID = re.compile(_subject_id_pattern(_REFUSED + _SURROGATES))


def check_custom_message(value: str | None) -> str | None:
    """``value`` unchanged when it is an acceptable custom message (or ``None``).

    :raises ValueError: it is not a string, too long, or holds a refused
        character; the message is the same one every door reports.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > MAX_CUSTOM_MESSAGE_LENGTH:
        raise ValueError(f"must be at most {MAX_CUSTOM_MESSAGE_LENGTH} characters")
    if not _MESSAGE.fullmatch(value):
        raise ValueError(CUSTOM_MESSAGE_PROBLEM)
    return value


def require_custom_message(value: str | None) -> str | None:
    """:func:`check_custom_message` for the Python API.

    :raises InvalidInput: (a ``ValueError``) naming ``custom_message``.
    """
    try:
        return check_custom_message(value)
    except ValueError as exc:
        raise InvalidInput("custom_message", str(exc)) from None


def check_subject_id(value: object) -> str:
    """The string the directory receives for the id ``value``.

    An ``int`` (not a ``bool``) becomes its decimal form; a string is kept
    exactly as given once it passes the rule of this module.

    :raises ValueError: neither an integer nor an acceptable string.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(SUBJECT_ID_PROBLEM)
    text = str(value)
    if not _SUBJECT_ID.fullmatch(text):
        raise ValueError(SUBJECT_ID_PROBLEM)
    return text


def subject_id_or_none(value: object) -> str | None:
    """:func:`check_subject_id`, with ``None`` for an id it refuses."""
    try:
        return check_subject_id(value)
    except ValueError:
        return None
