"""Reading request bodies: JSON objects validated by a pydantic model."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from ._messages import JSON_TYPE, ApiRequest

__all__ = ["parse_json", "validation_errors"]

_Model = TypeVar("_Model", bound=BaseModel)


def validation_errors(exc: ValidationError) -> dict[str, list[str]]:
    """pydantic's errors as ``{field: [message, ...]}`` (dotted names for nested fields)."""
    errors: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or "body"
        message = error["msg"].removeprefix("Value error, ")
        errors.setdefault(name, []).append(message)
    return errors


def parse_json(
    request: ApiRequest, model: type[_Model], *, optional: bool, max_bytes: int
) -> _Model:
    """The request's JSON object body, validated by ``model``.

    :param optional: an empty body means ``model()`` (all defaults).
    :raises PayloadTooLarge: more than ``max_bytes``.
    :raises UnsupportedMediaType: a body that is not sent as JSON, or sent
        with several ``Content-Type`` headers (adapters pass them joined by
        ``", "``, which is no media type: never a guess at which one counts).
    :raises InvalidRequest: malformed JSON.
    :raises ValidationFailed: not an object, or invalid for ``model``.
    """
    body = request.body
    if len(body) > max_bytes:
        raise PayloadTooLarge()
    if not body.strip():
        if optional:
            return model()
        payload: Any = {}
    else:
        media = (request.content_type or "").split(";")[0].strip().lower()
        if media != JSON_TYPE and not (
            media.startswith("application/") and media.endswith("+json")
        ):
            raise UnsupportedMediaType()
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise InvalidRequest() from exc
    if not isinstance(payload, dict):
        raise ValidationFailed({"body": ["must be a JSON object"]})
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise ValidationFailed(validation_errors(exc)) from exc
