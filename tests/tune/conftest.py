"""Fixtures for the tuning tests: one pool of worker processes, and a SQLite client for
the tests where the backend does not matter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlpilot.compute import LocalExecutor
from mlpilot.config import load_settings
from mlpilot.store import Store
from mlpilot.tracking import TrackingClient


@pytest.fixture(scope="session")
def executor() -> Iterator[LocalExecutor]:
    """Two cores of worker processes, shared by every study of the session."""
    with LocalExecutor(cpus=2, memory_mb=4000) as running:
        yield running


@pytest.fixture
def sqlite_client(tmp_path: Path, sqlite_store_uri: str) -> Iterator[TrackingClient]:
    """A client on a fresh SQLite store, for studies whose store is not under test."""
    settings = load_settings(
        home=str(tmp_path / ".mlpilot"),
        store_uri=sqlite_store_uri,
        artifacts_uri=(tmp_path / "artifacts").as_uri(),
        user="tester",
    )
    store = Store(settings)
    yield TrackingClient(store)
    store.close()
