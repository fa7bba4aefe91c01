"""Each tenant's portal configuration: read (with a short per-process cache) and change."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .schemas import LOCALES_CONTEXT, InstalledLocales, PortalConfig, PortalConfigUpdate
from .storage import ConfigStore

__all__ = ["TenantConfigs"]

_CONFIG_CACHE_ENTRIES = 10_000


class TenantConfigs:
    """Reads and updates tenants' :class:`PortalConfig`.

    :param store: where configurations are kept.
    :param cache_seconds: how long a configuration read is reused (0: never).
    :param clock: the portal's clock (times of changes).
    :param locales: the installed catalogs a ``locale`` must name (any shape-valid
        locale when ``None``).
    :param monotonic: seconds from a monotonic clock, which ages the cache
        (``time.monotonic``; inject one in tests).
    """

    def __init__(
        self,
        store: ConfigStore,
        *,
        cache_seconds: float,
        clock: Callable[[], datetime],
        locales: InstalledLocales | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.locales = locales
        self.cache_seconds = cache_seconds
        self.clock = clock
        self.monotonic = monotonic
        # tenant id -> (monotonic expiry, config); see Settings.config_cache_seconds.
        self._config_cache: dict[str, tuple[float, PortalConfig]] = {}

    def get(self, tenant_id: str) -> PortalConfig:
        """The tenant's portal configuration; defaults when it never set one.

        Served from a per-process cache for ``cache_seconds``.
        """
        if self.cache_seconds > 0:
            cached = self._config_cache.get(tenant_id)
            if cached is not None and cached[0] > self.monotonic():
                return cached[1]
        config = self._load(tenant_id)
        self._cache(tenant_id, config)
        return config

    def update(
        self, tenant_id: str, update: PortalConfigUpdate | None = None, **changes: Any
    ) -> PortalConfig:
        """Change some of the tenant's settings and return the new configuration.

        :raises pydantic.ValidationError: a value is out of range, or ``locale``
            names no installed catalog.
        """
        context = None if self.locales is None else {LOCALES_CONTEXT: self.locales}
        patch = update or PortalConfigUpdate.model_validate(changes)
        # Patch what is stored, never a cached copy another process changed since.
        config = patch.apply_to(self._load(tenant_id), context=context)
        self.store.save_config(tenant_id, config.model_dump(), self.clock())
        self._cache(tenant_id, config)
        return config

    def _load(self, tenant_id: str) -> PortalConfig:
        stored = self.store.load_config(tenant_id)
        return PortalConfig() if stored is None else PortalConfig.model_validate(stored)

    def _cache(self, tenant_id: str, config: PortalConfig) -> None:
        if self.cache_seconds <= 0:
            return
        if len(self._config_cache) >= _CONFIG_CACHE_ENTRIES:
            self._config_cache.clear()  # rare: far more tenants than a process serves
        self._config_cache[tenant_id] = (self.monotonic() + self.cache_seconds, config)
