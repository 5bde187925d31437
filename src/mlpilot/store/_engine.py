"""Engines for the metadata database, tuned per dialect.

SQLite runs in WAL mode so readers never wait for a writer, with a busy timeout so
concurrent writers queue instead of failing. Write transactions start with
``BEGIN IMMEDIATE``: a deferred transaction that reads and then writes can fail at once
with "database is locked" when another process got the write lock in between, whatever
the timeout; taking the lock up front makes every writer wait its turn.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry

from mlpilot.errors import ConfigError, NotFoundError

#: Milliseconds a SQLite writer waits for the lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 60_000


def create_metadata_engine(uri: str, *, create: bool = True) -> Engine:
    """Return an engine for ``uri`` (``sqlite:///path`` or ``postgresql+psycopg://...``).

    Args:
        uri: The metadata database.
        create: Whether a SQLite file (and its folder) may be created. When False, a
            path where there is no file raises :class:`~mlpilot.errors.NotFoundError`.
    """
    try:
        url = make_url(uri)
    except ArgumentError as exc:
        raise ConfigError(
            f"store URI {uri!r} is not a database URL; use sqlite:///path/to/mlpilot.db "
            "or postgresql+psycopg://user@host/dbname"
        ) from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url.database, create=create)
    if backend == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return create_engine(url, pool_pre_ping=True)
    raise ConfigError(f"unsupported store backend {backend!r}; use sqlite or postgresql")


def write_options(engine: Engine) -> Engine:
    """The same engine, flagged so that its transactions take the write lock at BEGIN."""
    return engine.execution_options(mlpilot_write=True)


def no_store_error(where: str) -> NotFoundError:
    """The error for opening, without leave to create one, a store that is not there."""
    return NotFoundError(
        f"no mlpilot store at {where}; check the store URI, or create the store by "
        "recording something in it or with `mlpilot doctor`"
    )


def _sqlite_engine(database: str | None, *, create: bool) -> Engine:
    if not database or database == ":memory:":
        raise ConfigError(
            "an in-memory SQLite store cannot be shared by workers; give a file path, "
            "e.g. sqlite:///./.mlpilot/mlpilot.db"
        )
    path = Path(database)
    if not create:
        # Connecting would create the file: look first.
        if not path.is_file():
            raise no_store_error(str(path))
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the store folder {path.parent}: {exc}") from exc
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: sqlite3.Connection, _: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is always deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    _enable_wal(cursor)
    # NORMAL is durable across process crashes in WAL mode; only power loss can lose
    # the last commits, and it never corrupts the file.
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    # Switching a new file to WAL needs an exclusive lock, and SQLite answers "database is
    # locked" at once, without waiting for the busy timeout, when processes opening the
    # file at the same time contend for it: retry until the timeout instead.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _on_sqlite_begin(conn: Connection) -> None:
    options: dict[str, Any] = dict(conn.get_execution_options())
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("mlpilot_write") else "BEGIN")
