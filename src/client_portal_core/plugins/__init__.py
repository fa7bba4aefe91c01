"""Plugins: loading, checking, configuring and reporting them.

A portal builds its plugins once, at start-up (:func:`start_plugins`): the
library's defaults, then each entry point of the ``client_portal`` group one
by one (``disabled_plugins`` skipped), then the host's own plugins. Every
problem (an entry point that does not import, an unknown ``client_portal_*``
name, a provider hook returning the wrong thing, an invalid plugin setting)
is a :class:`~client_portal_core.ConfigurationError` naming the plugin and
its distribution, before any request. :class:`PluginReport` says what was
loaded and what each hook picked; :class:`PluginSettings` is how a plugin
declares and reads its own settings. ``docs/plugins.md`` is the guide.
"""

from __future__ import annotations

from ._loading import LoadedPlugin, PortalPluginManager, load_plugins
from ._providers import Provided, call_provider, check_mailer, check_token_store
from ._report import HookChoice, PluginReport
from ._settings import PluginSettings, plugin_env_name
from ._startup import SETTINGS_ATTRIBUTE, PluginStartup, check_plugin_settings, start_plugins

__all__ = [
    "SETTINGS_ATTRIBUTE",
    "HookChoice",
    "LoadedPlugin",
    "PluginReport",
    "PluginSettings",
    "PluginStartup",
    "PortalPluginManager",
    "Provided",
    "call_provider",
    "check_mailer",
    "check_plugin_settings",
    "check_token_store",
    "load_plugins",
    "plugin_env_name",
    "start_plugins",
]
