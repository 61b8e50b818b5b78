"""Dependencies shared by the routes: the app's registry.

One :class:`~carbonlink.registry.Registry` per app (its SQLAlchemy engine is a connection pool,
safe to share between the request threads), opened on the first request that needs it — so an
app whose registry database does not exist still serves simulate, check and the data — and
closed when the app shuts down (see the lifespan in :mod:`carbonlink.api.app`).
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request

from carbonlink.registry import Registry


class RegistryProvider:
    """Opens the registry at ``url`` on first use; :meth:`close` disposes of it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._registry: Registry | None = None
        self._lock = threading.Lock()

    def get(self) -> Registry:
        with self._lock:
            if self._registry is None:
                self._registry = Registry(self.url)
            return self._registry

    def close(self) -> None:
        with self._lock:
            registry, self._registry = self._registry, None
        if registry is not None:
            registry.close()


def registry_provider(request: Request) -> RegistryProvider:
    provider = request.app.state.registry
    assert isinstance(provider, RegistryProvider)
    return provider


def get_registry(provider: Annotated[RegistryProvider, Depends(registry_provider)]) -> Registry:
    """The app's registry (FastAPI dependency)."""
    return provider.get()


RegistryDep = Annotated[Registry, Depends(get_registry)]
