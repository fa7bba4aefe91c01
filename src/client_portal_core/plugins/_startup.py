"""A portal's plugins from nothing to checked providers, in one call at start-up."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..async_mail import AsyncMailerBridge, is_async_mailer
from ..errors import ConfigurationError
from ..hooks import ClientPortalSpec
from ..mail import Mailer
from ..settings import Settings
from ..storage import EventSink, SqlTokenStore, TokenStore
from ._loading import LoadedPlugin, PortalPluginManager, load_plugins
from ._providers import Provided, call_provider, check_mailer, check_token_store
from ._report import HookChoice, PluginReport
from ._settings import PluginSettings

__all__ = ["PluginStartup", "start_plugins"]

logger = logging.getLogger("client_portal_core.plugins")

#: The attribute a plugin declares its settings model in.
SETTINGS_ATTRIBUTE = "client_portal_settings"
_PROVIDER_HOOKS = ("client_portal_mailer", "client_portal_token_store")


@dataclass(frozen=True, slots=True)
class PluginStartup:
    """A portal's checked plugins and the providers they picked.

    :param manager: the portal's plugin manager.
    :param mailer: the mailer to use (an async one behind an :class:`AsyncMailerBridge`).
    :param mailer_source: who provided it, for logs (``plugin 'x' (dist 1.0)``).
    :param token_store: the token store to use.
    :param report: what was loaded and picked.
    """

    manager: PortalPluginManager
    mailer: Mailer
    mailer_source: str
    token_store: TokenStore
    report: PluginReport


def _settings_models(manager: PortalPluginManager) -> list[tuple[LoadedPlugin, Any]]:
    found = []
    for name, plugin in manager.list_name_plugin():
        model = getattr(plugin, SETTINGS_ATTRIBUTE, None)
        if model is not None:
            found.append((manager.loaded.get(name) or LoadedPlugin(name, "host"), model))
    return found


def check_plugin_settings(manager: PortalPluginManager, settings: Settings) -> None:
    """Validate every plugin's declared settings now, not at its first use.

    :raises ConfigurationError: a model is missing or invalid, or a
        ``CLIENT_PORTAL_PLUGIN_*`` variable names a field its plugin lacks.
    """
    problems: list[str] = []
    declared: dict[str, type[PluginSettings]] = {}
    for record, model in _settings_models(manager):
        if not (isinstance(model, type) and issubclass(model, PluginSettings)):
            problems.append(
                f"plugin {record.label()}: {SETTINGS_ATTRIBUTE} must be a PluginSettings "
                f"subclass, not {model!r}"
            )
            continue
        declared[model.plugin_name] = model
        try:
            model.from_settings(settings)
        except ConfigurationError as exc:
            problems.append(f"plugin {record.label()}: {exc}")
    known = {
        env.removeprefix("CLIENT_PORTAL_PLUGIN_")
        for m in declared.values()
        for env in m.env_names().values()
    }
    for variable in sorted(settings.plugin_environment):
        if variable in known:
            continue
        for name, model in declared.items():
            if variable.startswith(name.upper() + "_"):
                problems.append(
                    f"CLIENT_PORTAL_PLUGIN_{variable} names no setting of plugin {name!r} "
                    f"(its settings: {', '.join(model.model_fields) or 'none'})"
                )
    unclaimed = sorted(set(settings.plugins) - set(declared))
    if unclaimed:
        logger.warning(
            "settings given for plugins that are not loaded or declare no settings: %s",
            ", ".join(unclaimed),
        )
    if problems:
        raise ConfigurationError("plugin error: " + "; ".join(problems))


def _implementations(manager: PortalPluginManager, hook: str) -> tuple[str, ...]:
    impls = getattr(manager.hook, hook).get_hookimpls()
    return tuple(manager.record_of(impl.plugin).name for impl in reversed(impls))


def start_plugins(
    settings: Settings,
    plugins: Iterable[object],
    *,
    defaults: Iterable[object],
    sql_store: SqlTokenStore,
    event_sink: EventSink,
    mailer: Mailer | None = None,
    require_directory: bool = True,
) -> PluginStartup:
    """Load and check the plugins, call the provider hooks, check their results.

    :param mailer: a mailer chosen by the host (``ClientPortal(mailer=...)``):
        the ``client_portal_mailer`` hook is then not called.
    :param require_directory: refuse to start without ``client_portal_find_recipient``.
    :raises ConfigurationError: the first start-up problem, naming the plugin.
    """
    manager, disabled = load_plugins(
        tuple(plugins),
        defaults=defaults,
        load_entry_points=settings.load_entry_points,
        disabled=settings.disabled_plugins,
    )
    check_plugin_settings(manager, settings)
    if require_directory and not manager.hook.client_portal_find_recipient.get_hookimpls():
        raise ConfigurationError(
            "no directory plugin: register a plugin implementing "
            "client_portal_find_recipient so the portal can find contacts and companies"
        )
    picked: dict[str, tuple[str, str]] = {}
    if mailer is None:
        provided = call_provider(manager, "client_portal_mailer", {"settings": settings})
        check_mailer(provided)
        chosen_mailer: Any = provided.value
        source = f"plugin {provided.plugin.label()}"
        picked["client_portal_mailer"] = (provided.plugin.name, type(chosen_mailer).__qualname__)
    else:
        chosen_mailer, source = mailer, "the mailer= argument"
        picked["client_portal_mailer"] = ("mailer= argument", type(mailer).__qualname__)
    if is_async_mailer(chosen_mailer):
        chosen_mailer = AsyncMailerBridge(chosen_mailer)
    store: Provided = call_provider(
        manager,
        "client_portal_token_store",
        {"settings": settings, "sql_store": sql_store, "event_sink": event_sink},
    )
    check_token_store(store)
    picked["client_portal_token_store"] = (store.plugin.name, type(store.value).__qualname__)
    hooks = sorted(name for name in vars(ClientPortalSpec) if name.startswith("client_portal_"))
    choices = tuple(
        HookChoice(hook, _implementations(manager, hook), *picked.get(hook, (None, None)))
        for hook in hooks
    )
    report = PluginReport(tuple(manager.loaded.values()), tuple(disabled), choices)
    return PluginStartup(manager, chosen_mailer, source, store.value, report)
