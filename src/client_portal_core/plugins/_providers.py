"""Calling the provider hooks at start-up, and checking what they return.

A provider hook (``client_portal_mailer``, ``client_portal_token_store``)
is called once, when the portal starts. Its implementations are called in
pluggy's order until one returns something, so the portal knows *which
plugin* provided it (for the log, ``client-portal plugins`` and error
messages); the result is then checked against its protocol, so a wrong
object is a start-up error instead of an ``AttributeError`` at the first
request.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from ..mail import OutgoingEmail
from ..storage import REQUIRED_TOKEN_STORE_METHODS
from ._loading import LoadedPlugin, PortalPluginManager, one_line

__all__ = ["Provided", "call_provider", "check_mailer", "check_token_store"]


@dataclass(frozen=True, slots=True)
class Provided:
    """What a provider hook returned, and which plugin returned it."""

    hook: str
    value: Any
    plugin: LoadedPlugin


def call_provider(manager: PortalPluginManager, hook: str, kwargs: Mapping[str, Any]) -> Provided:
    """Call ``hook``'s implementations in pluggy's order; the first non-None result.

    :raises ConfigurationError: an implementation raised (the line names the
        plugin), a wrapper is registered on the hook, or none returned anything.
    """
    caller = getattr(manager.hook, hook)
    impls = caller.get_hookimpls()
    for impl in impls:
        if impl.hookwrapper or impl.wrapper:
            raise ConfigurationError(
                f"plugin error: plugin {manager.record_of(impl.plugin).label()} wraps {hook}; "
                "provider hooks take no wrappers: return your own object wrapping the "
                "default instead (your implementation receives what it needs)"
            )
    # pluggy calls the last registered (and tryfirst) implementations first.
    for impl in reversed(impls):
        record = manager.record_of(impl.plugin)
        try:
            result = impl.function(*(kwargs[name] for name in impl.argnames))
        except ConfigurationError as exc:
            raise ConfigurationError(f"plugin error: plugin {record.label()}: {exc}") from exc
        except Exception as exc:
            raise ConfigurationError(
                f"plugin error: {hook} of plugin {record.label()} raised {one_line(exc)}"
            ) from exc
        if result is not None:
            return Provided(hook, result, record)
    raise ConfigurationError(f"plugin error: no plugin provides {hook}")  # pragma: no cover


def _kind(value: object) -> str:
    return type(value).__qualname__


def check_mailer(provided: Provided) -> None:
    """A mailer has ``send(email)``, plain or ``async def``.

    :raises ConfigurationError: it does not.
    """
    send = getattr(provided.value, "send", None)
    where = f"{provided.hook} of plugin {provided.plugin.label()} returned {_kind(provided.value)}"
    if not callable(send):
        raise ConfigurationError(
            f"plugin error: {where}, which has no send(email) method: not a Mailer"
        )
    try:
        inspect.signature(send).bind(_PROBE)
    except TypeError as exc:
        raise ConfigurationError(
            f"plugin error: {where}, whose send cannot take one email: {exc}"
        ) from None
    except ValueError:  # pragma: no cover - a builtin without a signature
        pass


_PROBE = OutgoingEmail(to="", subject="", text="", html="", sender="")


def check_token_store(provided: Provided) -> None:
    """A token store has every :class:`~client_portal_core.token_store.TokenStore` method,
    none of them ``async def`` (the portal calls them from worker threads).

    :raises ConfigurationError: it does not.
    """
    store = provided.value
    where = f"{provided.hook} of plugin {provided.plugin.label()} returned {_kind(store)}"
    missing = [
        name for name in REQUIRED_TOKEN_STORE_METHODS if not callable(getattr(store, name, None))
    ]
    if missing:
        raise ConfigurationError(
            f"plugin error: {where}, which lacks {', '.join(missing)}: not a TokenStore "
            "(see client_portal_core.token_store)"
        )
    asynchronous = [
        name
        for name in REQUIRED_TOKEN_STORE_METHODS
        if inspect.iscoroutinefunction(getattr(store, name))
    ]
    if asynchronous:
        raise ConfigurationError(
            f"plugin error: {where}, whose {', '.join(asynchronous)} are async def; token "
            "store methods are called from worker threads and must be plain functions"
        )
