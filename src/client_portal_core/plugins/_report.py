"""What a portal loaded and what each hook picked: for the log and ``client-portal plugins``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ._loading import LoadedPlugin

__all__ = ["HookChoice", "PluginReport"]


@dataclass(frozen=True, slots=True)
class HookChoice:
    """One hook: its implementations in call order and, for a provider, the pick.

    :param hook: the hook's name.
    :param implementations: registration names, in the order pluggy calls them.
    :param chosen: the plugin whose result the portal uses (provider hooks,
        called once at start-up); ``None`` for hooks called per request, where
        the first to answer wins each time.
    :param provides: the class of what the chosen plugin returned.
    """

    hook: str
    implementations: tuple[str, ...]
    chosen: str | None = None
    provides: str | None = None

    def line(self) -> str:
        """``hook: chosen (Class)`` or ``hook: a, then b`` for per-request hooks."""
        if self.chosen is not None:
            others = [name for name in self.implementations if name != self.chosen]
            also = f"; not used: {', '.join(others)}" if others else ""
            return f"{self.hook}: {self.chosen} ({self.provides}){also}"
        if not self.implementations:
            return f"{self.hook}: none"
        return f"{self.hook}: {', then '.join(self.implementations)} (per call, first answer wins)"


@dataclass(frozen=True, slots=True)
class PluginReport:
    """The plugins of one portal and what each hook picked."""

    plugins: tuple[LoadedPlugin, ...]
    disabled: tuple[LoadedPlugin, ...]
    hooks: tuple[HookChoice, ...]

    def choice(self, hook: str) -> HookChoice:
        """The entry of one hook.

        :raises KeyError: no such hook.
        """
        for choice in self.hooks:
            if choice.hook == hook:
                return choice
        raise KeyError(hook)

    def summary(self) -> str:
        """One line: the plugins, then each provider's pick (the start-up log)."""
        names = ", ".join(
            f"{p.name} ({p.distribution} {p.version})" if p.distribution else p.name
            for p in self.plugins
        )
        picks = "; ".join(
            f"{c.hook}: {c.chosen} ({c.provides})" for c in self.hooks if c.chosen is not None
        )
        disabled = (
            f"; disabled: {', '.join(p.name for p in self.disabled)}" if self.disabled else ""
        )
        return f"plugins: {names}; {picks}{disabled}"

    def lines(self) -> list[str]:
        """The report as text, one plugin or hook per line."""
        lines = ["plugins:"]
        for plugin in self.plugins:
            where = plugin.source
            if plugin.entry_point:
                where += f" {plugin.entry_point}"
            if plugin.distribution:
                where += f", {plugin.distribution} {plugin.version}"
            lines.append(f"  {plugin.name} ({where})")
        for plugin in self.disabled:
            lines.append(
                f"  {plugin.name} (disabled entry point, {plugin.distribution} {plugin.version})"
            )
        lines.append("hooks:")
        lines += [f"  {choice.line()}" for choice in self.hooks]
        return lines

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (``client-portal plugins --json``)."""
        return {
            "plugins": [asdict(plugin) for plugin in self.plugins],
            "disabled": [asdict(plugin) for plugin in self.disabled],
            "hooks": [
                {**asdict(choice), "implementations": list(choice.implementations)}
                for choice in self.hooks
            ],
        }
