"""The store a process works with: metadata and artifacts opened from one set of settings."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from mlpilot.config import Settings, load_settings
from mlpilot.errors import StoreError
from mlpilot.store._metadata import MetadataStore

if TYPE_CHECKING:
    from mlpilot.store._artifacts import ArtifactStore
    from mlpilot.store.base._accounts import AccountRecords
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
    from mlpilot.store.http._records import Remote


#: Each domain's SQL records: module, class, and whether it takes the acting user.
_SQL_RECORDS = {
    "tracking": ("mlpilot.store.sql._tracking", "SqlTrackingRecords", True),
    "datasets": ("mlpilot.store.sql._datasets", "SqlDatasetRecords", True),
    "pipelines": ("mlpilot.store.sql._pipelines", "SqlPipelineRecords", True),
    "studies": ("mlpilot.store.sql._studies", "SqlStudyRecords", True),
    "registry": ("mlpilot.store.sql._registry", "SqlRegistryRecords", True),
    "predictions": ("mlpilot.store.sql._predictions", "SqlPredictionRecords", True),
    "monitors": ("mlpilot.store.sql._monitors", "SqlMonitorRecords", True),
    "events": ("mlpilot.store.sql._events", "SqlEventRecords", True),
    "leases": ("mlpilot.store.sql._leases", "SqlLeaseRecords", False),
    "triggers": ("mlpilot.store.sql._triggers", "SqlTriggerRecords", True),
    "accounts": ("mlpilot.store.sql._accounts", "SqlAccountRecords", True),
}


def is_remote(store_uri: str) -> bool:
    """Whether ``store_uri`` names an mlpilot server rather than a database."""
    return store_uri.startswith(("http://", "https://"))


def open_artifacts(url: str) -> ArtifactStore:
    """The artifact store at ``url``: a folder or bucket, or a server's artifacts
    (``http(s)://HOST:PORT/api/v1/artifacts``, what a remote store's ``artifacts.url`` is)."""
    if is_remote(url):
        from mlpilot.store.http._records import Remote

        server = url.split("/api/v1/", 1)[0]
        return cast("ArtifactStore", Remote(load_settings(store_uri=server)).artifacts())
    from mlpilot.store._artifacts import ArtifactStore

    return ArtifactStore(url)


class Store:
    """Metadata and artifact stores opened from ``settings``.

    Each domain's records are reached through the interface of
    :mod:`mlpilot.store.base` (``store.tracking``, ``store.registry``, ...); layers above
    the store use those and never the database itself. Writes record ``settings.user``
    as the actor of their events unless a method is given another ``actor``.

    A ``store_uri`` of ``http://`` or ``https://`` names an ``mlpilot server``: the
    records and artifacts are then the server's, reached over HTTP.
    """

    def __init__(self, settings: Settings, *, create: bool = True) -> None:
        self.settings = settings
        self._closers: list[Callable[[], None]] = []
        self._remote: Remote | None = None
        self._metadata: MetadataStore | None = None
        if is_remote(settings.store_uri):
            from mlpilot.store.http._records import Remote

            self._remote = Remote(settings)
        else:
            self._metadata = MetadataStore(settings.store_uri, create=create)

    @property
    def metadata(self) -> MetadataStore:
        """The database itself, for what only runs beside it (garbage collection)."""
        if self._metadata is None:
            raise StoreError(
                f"the store is the server at {self.settings.store_uri}; this runs on the "
                "server's machine, against its database"
            )
        return self._metadata

    @functools.cached_property
    def artifacts(self) -> ArtifactStore:
        """The artifact store (fsspec loads on first use: listing runs needs none)."""
        if self._remote is not None:
            # The server's blobs: the same calls, except those of garbage collection.
            return cast("ArtifactStore", self._remote.artifacts())
        return open_artifacts(self.settings.artifacts_uri)

    def as_user(self, user: str) -> Store:
        """This store, recording ``user`` as the actor of its writes: the view a server
        keeps for each caller. It shares the connections and is never closed itself."""
        view = Store.__new__(Store)
        view.settings = dataclasses.replace(self.settings, user=user)
        view._closers, view._remote, view._metadata = [], self._remote, self._metadata
        if "artifacts" in self.__dict__:
            view.__dict__["artifacts"] = self.artifacts
        return view

    def _records(self, domain: str) -> Any:
        # The implementations load on first use, so that a command that needs one domain
        # does not import the others.
        if self._remote is not None:
            return self._remote.records(domain)
        module, name, takes_user = _SQL_RECORDS[domain]
        records = getattr(importlib.import_module(module), name)
        return records(self.metadata, self.settings.user) if takes_user else records(self.metadata)

    @functools.cached_property
    def tracking(self) -> TrackingRecords:
        return cast("TrackingRecords", self._records("tracking"))

    @functools.cached_property
    def datasets(self) -> DatasetRecords:
        return cast("DatasetRecords", self._records("datasets"))

    @functools.cached_property
    def pipelines(self) -> PipelineRecords:
        return cast("PipelineRecords", self._records("pipelines"))

    @functools.cached_property
    def studies(self) -> StudyRecords:
        return cast("StudyRecords", self._records("studies"))

    @functools.cached_property
    def registry(self) -> RegistryRecords:
        return cast("RegistryRecords", self._records("registry"))

    @functools.cached_property
    def predictions(self) -> PredictionRecords:
        return cast("PredictionRecords", self._records("predictions"))

    @functools.cached_property
    def monitors(self) -> MonitorRecords:
        return cast("MonitorRecords", self._records("monitors"))

    @functools.cached_property
    def events(self) -> EventRecords:
        return cast("EventRecords", self._records("events"))

    @functools.cached_property
    def leases(self) -> LeaseRecords:
        return cast("LeaseRecords", self._records("leases"))

    @functools.cached_property
    def triggers(self) -> TriggerRecords:
        return cast("TriggerRecords", self._records("triggers"))

    @functools.cached_property
    def accounts(self) -> AccountRecords:
        return cast("AccountRecords", self._records("accounts"))

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
            if self._metadata is not None:
                self._metadata.close()
            if self._remote is not None:
                self._remote.close()


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
        if store._metadata is not None:
            store._metadata.engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_connections_after_fork)
