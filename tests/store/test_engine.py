"""SQLite settings that make one file safe for many readers and writers."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from mlpilot.store import MetadataStore, now_ms
from mlpilot.store._schema import experiments, params


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[MetadataStore]:
    store = MetadataStore(f"sqlite:///{tmp_path / 'mlpilot.db'}")
    yield store
    store.close()


def test_wal_busy_timeout_and_foreign_keys_on_every_connection(
    sqlite_store: MetadataStore,
) -> None:
    # A read and a write connection, checked out at once, are two pool connections.
    with sqlite_store.read() as reader, sqlite_store.write() as writer:
        for conn in (reader, writer):
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_foreign_keys_are_enforced(sqlite_store: MetadataStore) -> None:
    with pytest.raises(IntegrityError), sqlite_store.write() as conn:
        conn.execute(insert(params).values(run_id="0" * 32, key="lr", value="1"))

    with sqlite_store.read() as conn:
        assert conn.execute(select(func.count()).select_from(params)).scalar() == 0


def test_a_failed_write_is_rolled_back(sqlite_store: MetadataStore) -> None:
    with pytest.raises(RuntimeError), sqlite_store.write() as conn:
        conn.execute(insert(experiments).values(name="half", description="", created_ms=now_ms()))
        raise RuntimeError("interrupted")

    with sqlite_store.read() as conn:
        assert conn.execute(select(func.count()).select_from(experiments)).scalar() == 0


def test_writers_that_read_first_wait_their_turn(tmp_path: Path) -> None:
    """Read-then-write transactions from separate engines neither fail nor lose updates."""
    uri = f"sqlite:///{tmp_path / 'mlpilot.db'}"
    stores = [MetadataStore(uri) for _ in range(3)]
    errors: list[BaseException] = []

    def write(store: MetadataStore, worker: int) -> None:
        try:
            for i in range(30):
                with store.write() as conn:
                    count = conn.execute(select(func.count()).select_from(experiments)).scalar()
                    conn.execute(
                        insert(experiments).values(
                            name=f"{worker}-{i}", description=str(count), created_ms=now_ms()
                        )
                    )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        with stores[0].read() as conn:
            seen = sorted(int(d) for d in conn.execute(select(experiments.c.description)).scalars())
        # Each transaction saw every earlier one: the counts are 0, 1, 2, ... with no repeat.
        assert seen == list(range(90))
    finally:
        for store in stores:
            store.close()


def test_first_open_waits_for_a_writer_of_the_file(tmp_path: Path) -> None:
    """Switching a file to WAL waits for the lock like any write, instead of failing."""
    path = tmp_path / "mlpilot.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE scratch (x INTEGER)")
    other.execute("BEGIN IMMEDIATE")  # another writer, mid-transaction
    release = threading.Timer(0.3, other.execute, args=("COMMIT",))
    release.start()
    try:
        store = MetadataStore(f"sqlite:///{path}")
        with store.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        store.close()
    finally:
        release.join()
        other.close()
