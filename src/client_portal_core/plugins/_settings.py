"""A plugin's own settings: a pydantic model filled from the portal's settings and environment."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ConfigurationError
from ..settings import PLUGIN_ENV_PREFIX, Settings

__all__ = ["PluginSettings", "plugin_env_name"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def plugin_env_name(plugin_name: str, field: str) -> str:
    """The variable of one plugin setting: ``CLIENT_PORTAL_PLUGIN_HTTP_MAILER_API_KEY``."""
    return f"{PLUGIN_ENV_PREFIX}{plugin_name.upper()}_{field.upper()}"


class PluginSettings(BaseModel):
    """Base class of a plugin's settings.

    Subclass it, name the plugin in :attr:`plugin_name`, declare typed fields
    with safe defaults, and expose the class on the plugin as
    ``client_portal_settings``: the portal then validates it at start-up (an
    error names the plugin and the field), before any request. Read the
    values in a hook with :meth:`from_settings`::

        class HttpMailerSettings(PluginSettings):
            plugin_name: ClassVar[str] = "http_mailer"
            api_url: str
            api_key: SecretStr

        class HttpMailerPlugin:
            client_portal_settings = HttpMailerSettings

            @hookimpl
            def client_portal_mailer(self, settings):
                config = HttpMailerSettings.from_settings(settings)
                ...

    Values come from ``Settings.build(plugins={"http_mailer": {"api_key": ...}})``
    and, for what that leaves out, from ``CLIENT_PORTAL_PLUGIN_HTTP_MAILER_API_KEY``
    (read by :meth:`Settings.from_env`; list fields are comma separated).
    Unknown fields are errors, so a typo never passes silently.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The plugin's settings name: lower case, digits and ``_``; use its entry-point name.
    plugin_name: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = getattr(cls, "plugin_name", None)
        if not isinstance(name, str) or not _NAME.match(name):
            raise TypeError(
                f"{cls.__qualname__}.plugin_name must be a lower-case name like "
                f"'http_mailer', not {name!r}"
            )

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Field name to its environment variable."""
        return {field: plugin_env_name(cls.plugin_name, field) for field in cls.model_fields}

    @classmethod
    def raw_values(cls, settings: Settings) -> dict[str, Any]:
        """The unvalidated values for this plugin: environment first, ``plugins=`` over it."""
        values: dict[str, Any] = {}
        prefix_len = len(PLUGIN_ENV_PREFIX)
        for field, env_name in cls.env_names().items():
            raw = settings.plugin_environment.get(env_name[prefix_len:])
            if raw is None:
                continue
            is_list = "list" in str(cls.model_fields[field].annotation)
            values[field] = [part for part in raw.split(",") if part] if is_list else raw
        values.update(settings.plugins.get(cls.plugin_name, {}))
        return values

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """This plugin's settings, validated.

        :raises ConfigurationError: a field is missing or invalid; the message
            names the plugin, the field and where to set it, never the value.
        """
        try:
            return cls.model_validate(cls.raw_values(settings))
        except ValidationError as exc:
            env_names = cls.env_names()
            problems = []
            for error in exc.errors(include_input=False, include_url=False):
                field = str(error["loc"][0]) if error["loc"] else ""
                where = f" (set {env_names[field]})" if field in env_names else ""
                problems.append(f"{field or 'settings'}: {error['msg']}{where}")
            raise ConfigurationError(
                f"invalid settings of plugin {cls.plugin_name!r}: " + "; ".join(problems)
            ) from None
