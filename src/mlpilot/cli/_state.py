"""The global options of a command line call, and the store they open."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from mlpilot.config import Settings, load_settings
from mlpilot.store import Store, open_store
from mlpilot.tracking import TrackingClient


@dataclasses.dataclass
class CliState:
    """``--home``, ``--store-uri`` and ``--artifacts-uri``; the store opens on first use."""

    home: Path | None = None
    store_uri: str | None = None
    artifacts_uri: str | None = None
    _store: Store | None = None

    def settings(self) -> Settings:
        return load_settings(
            home=self.home, store_uri=self.store_uri, artifacts_uri=self.artifacts_uri
        )

    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings())
        return self._store

    def client(self) -> TrackingClient:
        return TrackingClient(store=self.store())

    def close(self) -> None:
        """Release the database connections this call opened."""
        if self._store is not None:
            self._store.close()


def state(ctx: typer.Context) -> CliState:
    """The :class:`CliState` of the running command line call."""
    found = ctx.find_object(CliState)
    return found if found is not None else ctx.ensure_object(CliState)
