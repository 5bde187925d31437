"""The store a process works with: metadata and artifacts opened from one set of settings."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlpilot.config import Settings, load_settings
from mlpilot.store._metadata import MetadataStore

if TYPE_CHECKING:
    from mlpilot.store._artifacts import ArtifactStore
    from mlpilot.store.base._datasets import DatasetRecords
    from mlpilot.store.base._events import EventRecords
    from mlpilot.store.base._leases import LeaseRecords
    from mlpilot.store.base._monitors import MonitorRecords
    from mlpilot.store.base._pipelines import PipelineRecords
    from mlpilot.store.base._predictions import PredictionRecords
    from mlpilot.store.base._registry import RegistryRecords
    from mlpilot.store.base._studies import StudyRecords
    from mlpilot.store.base._tracking import TrackingRecords
    from mlpilot.store.base._triggers import TriggerRecords


class Store:
    """Metadata and artifact stores opened from ``settings``.

    Each domain's records are reached through the interface of
    :mod:`mlpilot.store.base` (``store.tracking``, ``store.registry``, ...); layers above
    the store use those and never the database itself. Writes record ``settings.user``
    as the actor of their events unless a method is given another ``actor``.
    """

    def __init__(self, settings: Settings, *, create: bool = True) -> None:
        self.settings = settings
        self.metadata = MetadataStore(settings.store_uri, create=create)
        self._closers: list[Callable[[], None]] = []

    @functools.cached_property
    def artifacts(self) -> ArtifactStore:
        """The artifact store (fsspec loads on first use: listing runs needs none)."""
        from mlpilot.store._artifacts import ArtifactStore

        return ArtifactStore(self.settings.artifacts_uri)

    # The implementations load on first use, so that a command that needs one domain
    # does not import the others.

    @functools.cached_property
    def tracking(self) -> TrackingRecords:
        from mlpilot.store.sql._tracking import SqlTrackingRecords

        return SqlTrackingRecords(self.metadata, self.settings.user)

    @functools.cached_property
    def datasets(self) -> DatasetRecords:
        from mlpilot.store.sql._datasets import SqlDatasetRecords

        return SqlDatasetRecords(self.metadata, self.settings.user)

    @functools.cached_property
    def pipelines(self) -> PipelineRecords:
        from mlpilot.store.sql._pipelines import SqlPipelineRecords

        return SqlPipelineRecords(self.metadata, self.settings.user)

    @functools.cached_property
    def studies(self) -> StudyRecords:
        from mlpilot.store.sql._studies import SqlStudyRecords

        return SqlStudyRecords(self.metadata, self.settings.user)

    @functools.cached_property
    def registry(self) -> RegistryRecords:
        from mlpilot.store.sql._registry import SqlRegistryRecords

        return SqlRegistryRecords(self.metadata, self.settings.user)

    @functools.cached_property
    def predictions(self) -> PredictionRecords:
        from mlpilot.store.sql._predictions import SqlPredictionRecords

        return SqlPredictionRecords(self.metadata, self.settings.user)

    @functools.cached_property
    def monitors(self) -> MonitorRecords:
        from mlpilot.store.sql._monitors import SqlMonitorRecords

        return SqlMonitorRecords(self.metadata, self.settings.user)

    @functools.cached_property
    def events(self) -> EventRecords:
        from mlpilot.store.sql._events import SqlEventRecords

        return SqlEventRecords(self.metadata, self.settings.user)

    @functools.cached_property
    def leases(self) -> LeaseRecords:
        from mlpilot.store.sql._leases import SqlLeaseRecords

        return SqlLeaseRecords(self.metadata)

    @functools.cached_property
    def triggers(self) -> TriggerRecords:
        from mlpilot.store.sql._triggers import SqlTriggerRecords

        return SqlTriggerRecords(self.metadata, self.settings.user)

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


def open_store(settings: Settings | None = None, *, create: bool = True, **overrides: Any) -> Store:
    """Return the process's :class:`Store` for the given settings, opening it once.

    Args:
        settings: Resolved settings; by default :func:`mlpilot.config.load_settings`
            with ``overrides`` (``store_uri=...``, ``artifacts_uri=...``, ``home=...``).
        create: Whether a store may be created where there is none; when False, a
            missing store raises :class:`~mlpilot.errors.NotFoundError`.
    """
    settings = settings or load_settings(**overrides)
    key = (settings.store_uri, settings.artifacts_uri)
    with _lock:
        store = _open.get(key)
        if store is None or store.settings != settings:
            store = _open[key] = Store(settings, create=create)
        return store


def _forget_connections_after_fork() -> None:
    # A forked child must not reuse its parent's database connections.
    for store in _open.values():
        store.metadata.engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_connections_after_fork)
