"""Building a portal's plugin manager: defaults, entry points one by one, then the host's.

Every problem becomes one line of a :class:`~client_portal_core.ConfigurationError`
naming the plugin (and, for an entry point, its distribution): an entry
point that fails to import, a hook name no spec knows (``check_pending``), a
``client_portal_*`` function without ``@hookimpl``, a hook taking arguments
its spec does not offer.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import inspect
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from ..errors import ConfigurationError
from ..hooks import ENTRY_POINT_GROUP, PROJECT_NAME, ClientPortalSpec

__all__ = ["LoadedPlugin", "PortalPluginManager", "load_plugins", "one_line"]

logger = logging.getLogger("client_portal_core.plugins")

#: Registration name of the library's own default plugin.
DEFAULTS_NAME = "client_portal_core"
_HOOK_PREFIX = "client_portal_"
_MAX_CAUSE = 300


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line, cut short: the cause in a start-up error."""
    text = " ".join(str(exc).split())
    if len(text) > _MAX_CAUSE:
        text = text[: _MAX_CAUSE - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True, slots=True)
class LoadedPlugin:
    """One registered plugin, as ``client-portal plugins`` lists it.

    :param name: its registration name (the entry-point name for entry points).
    :param source: ``library`` (the defaults), ``entry point`` or ``host``
        (passed as ``ClientPortal(plugins=...)``).
    :param distribution: the distribution publishing the entry point.
    :param version: that distribution's version.
    :param entry_point: ``name = module:attr`` of the entry point.
    """

    name: str
    source: str
    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None

    def label(self) -> str:
        """``'name' (distribution 1.0)`` or ``'name'``: how errors and logs name it."""
        if self.distribution:
            return f"{self.name!r} ({self.distribution} {self.version})"
        return repr(self.name)


class PortalPluginManager(pluggy.PluginManager):
    """A pluggy manager for one portal, with the hookspecs and a record of each plugin.

    Also notes ``client_portal_*`` functions that lack ``@hookimpl`` (pluggy
    would ignore them silently).
    """

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(ClientPortalSpec)
        #: Registration name to what it is, in registration order.
        self.loaded: dict[str, LoadedPlugin] = {}
        self._unmarked: list[tuple[object, str]] = []

    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        unmarked = opts is None and name.startswith(_HOOK_PREFIX)
        if unmarked and inspect.isroutine(getattr(plugin, name, None)):
            self._unmarked.append((plugin, name))
        return opts

    def add(self, plugin: object, record: LoadedPlugin) -> str | None:
        """Register ``plugin`` under ``record.name``; a problem line, or None."""
        try:
            self.register(plugin, name=record.name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            return f"plugin {record.label()} is invalid: {' '.join(str(exc).split())}"
        self.loaded[record.name] = record
        return None

    def record_of(self, plugin: object) -> LoadedPlugin:
        """The record of a registered plugin."""
        name = self.get_name(plugin) or repr(plugin)
        return self.loaded.get(name) or LoadedPlugin(name, "host")

    def hook_problems(self) -> list[str]:
        """Unknown hook names and unmarked ``client_portal_*`` functions, one line each."""
        known = sorted(name for name in vars(ClientPortalSpec) if name.startswith(_HOOK_PREFIX))
        problems = []
        for plugin in self.get_plugins():
            for caller in self.get_hookcallers(plugin) or ():
                if caller.has_spec() or all(
                    impl.optionalhook for impl in caller.get_hookimpls() if impl.plugin is plugin
                ):
                    continue
                guess = difflib.get_close_matches(caller.name, known, n=1)
                hint = f" (did you mean {guess[0]}?)" if guess else ""
                problems.append(
                    f"plugin {self.record_of(plugin).label()} implements unknown hook "
                    f"{caller.name!r}{hint}"
                )
        for plugin, name in self._unmarked:
            if self.is_registered(plugin) and name in known:
                problems.append(
                    f"plugin {self.record_of(plugin).label()} defines {name} without @hookimpl "
                    "(from client_portal_core import hookimpl), so it would never be called"
                )
            elif self.is_registered(plugin):
                guess = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {guess[0]}?)" if guess else ""
                problems.append(
                    f"plugin {self.record_of(plugin).label()} defines {name}, which is no "
                    f"hook{hint}; client_portal_* names are reserved for hooks"
                )
        return sorted(problems)


def _library_record() -> LoadedPlugin:
    try:
        version: str | None = importlib.metadata.version("client-portal-core")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a checkout
        version = None
    return LoadedPlugin(DEFAULTS_NAME, "library", "client-portal-core", version)


def _host_name(plugin: object, taken: dict[str, LoadedPlugin]) -> str:
    base = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__name__
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}#{number}"
    return name


@dataclass
class _EntryPoints:
    """What the entry-point group holds, found once per portal."""

    loaded: list[tuple[Any, LoadedPlugin]] = field(default_factory=list)
    disabled: list[LoadedPlugin] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _entry_point_text(ep: importlib.metadata.EntryPoint) -> str:
    return f"{ep.name} = {ep.value}"


def _load_entry_points(disabled: set[str]) -> _EntryPoints:
    found = _EntryPoints()
    seen: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        dist_name = dist.metadata["Name"] or "?"
        for ep in dist.entry_points.select(group=ENTRY_POINT_GROUP):
            record = LoadedPlugin(
                ep.name, "entry point", dist_name, dist.version, _entry_point_text(ep)
            )
            if ep.name in seen:
                if seen[ep.name] != dist_name:
                    found.problems.append(
                        f"entry point {ep.name!r} is published by both {seen[ep.name]} and "
                        f"{dist_name}; uninstall one or disable it (disabled_plugins)"
                    )
                continue  # the same distribution seen twice on sys.path
            seen[ep.name] = dist_name
            if ep.name in disabled:
                found.disabled.append(record)
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                found.problems.append(
                    f"entry point {_entry_point_text(ep)!r} of distribution {dist_name} "
                    f"{dist.version} could not be loaded: {one_line(exc)}"
                )
                continue
            found.loaded.append((plugin, record))
    return found


def load_plugins(
    plugins: Iterable[object] = (),
    *,
    defaults: Iterable[object] = (),
    load_entry_points: bool = True,
    disabled: Iterable[str] = (),
) -> tuple[PortalPluginManager, list[LoadedPlugin]]:
    """A fresh, checked plugin manager: ``defaults``, entry points, then ``plugins``.

    Plugins registered later are called first, so the host's plugins win
    over entry points, which win over the library's defaults.

    :param disabled: entry-point names not to load.
    :return: the manager and the entry-point plugins that were disabled.
    :raises ConfigurationError: one line per problem, joined by ``; ``.
    """
    manager = PortalPluginManager()
    problems: list[str] = []
    for default in defaults:
        problem = manager.add(default, _library_record())
        if problem:  # pragma: no cover - the library's own plugin
            problems.append(problem)
    skipped: list[LoadedPlugin] = []
    blocked = set(disabled)
    if load_entry_points:
        found = _load_entry_points(blocked)
        problems += found.problems
        skipped = found.disabled
        for plugin, record in found.loaded:
            if problem := manager.add(plugin, record):
                problems.append(problem)
        unknown = blocked - {record.name for record in skipped}
        if unknown:
            logger.warning(
                "disabled_plugins names no installed entry point: %s", ", ".join(sorted(unknown))
            )
    for plugin in plugins:
        if problem := manager.add(plugin, LoadedPlugin(_host_name(plugin, manager.loaded), "host")):
            problems.append(problem)
    problems += manager.hook_problems()
    if problems:
        raise ConfigurationError("plugin error: " + "; ".join(problems))
    manager.check_pending()  # nothing left for it to find; pluggy's own word on it
    return manager, skipped
