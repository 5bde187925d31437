"""The store a process works with: metadata and artifacts opened from one set of settings."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from mlpilot.config import Settings, load_settings
from mlpilot.store._artifacts import ArtifactStore
from mlpilot.store._metadata import MetadataStore


class Store:
    """Metadata and artifact stores opened from ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metadata = MetadataStore(settings.store_uri)
        self.artifacts = ArtifactStore(settings.artifacts_uri)
        self._closers: list[Callable[[], None]] = []

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the store closes, before its connections go.

        Layers above the store use this to write what they buffer (metric points) and to
        stop their background threads.
        """
        self._closers.append(callback)

    def close(self) -> None:
        try:
            for callback in reversed(self._closers):
                callback()
        finally:
            self._closers.clear()
            self.metadata.close()


_open: dict[tuple[str, str], Store] = {}
_lock = threading.Lock()


def open_store(settings: Settings | None = None, **overrides: Any) -> Store:
    """Return the process's :class:`Store` for the given settings, opening it once.

    Args:
        settings: Resolved settings; by default :func:`mlpilot.config.load_settings`
            with ``overrides`` (``store_uri=...``, ``artifacts_uri=...``, ``home=...``).
    """
    settings = settings or load_settings(**overrides)
    key = (settings.store_uri, settings.artifacts_uri)
    with _lock:
        store = _open.get(key)
        if store is None or store.settings != settings:
            store = _open[key] = Store(settings)
        return store


def _forget_connections_after_fork() -> None:
    # A forked child must not reuse its parent's database connections.
    for store in _open.values():
        store.metadata.engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_connections_after_fork)
