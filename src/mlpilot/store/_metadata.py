"""The metadata store: one SQLAlchemy engine, transactions, events and bulk writes."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DatabaseError, DataError, OperationalError
from sqlalchemy.sql.elements import ColumnElement

from mlpilot.errors import InvalidInputError, StoreError
from mlpilot.store import _migrate
from mlpilot.store._engine import create_metadata_engine, write_options
from mlpilot.store._schema import events


def now_ms() -> int:
    """The current UTC time in integer milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


class MetadataStore:
    """Transactional access to the metadata database at ``uri``.

    The schema is created or upgraded on first use. Every state change goes through
    :meth:`write`, and records what changed with :meth:`record_event` in the same
    transaction, so the event log and the state never disagree.

    Args:
        uri: ``sqlite:///path/to/mlpilot.db`` or ``postgresql+psycopg://user@host/db``.
        create: Whether a store may be created where there is none. Commands that only
            look pass False, so that a mistyped URI is reported rather than answered
            from a new, empty store.

    Raises:
        NotFoundError: ``create`` is False and there is no store at ``uri``.
        StoreError: The database cannot be opened, or has a newer schema.
    """

    def __init__(self, uri: str, *, create: bool = True) -> None:
        self.uri = uri
        self.engine: Engine = create_metadata_engine(uri, create=create)
        self._writer = write_options(self.engine)
        # SQLite has one writer at a time, and a writer that finds the lock taken sleeps
        # in growing steps: threads of one process (a server's, say) queue here instead,
        # and each takes the lock the moment the one before lets it go.
        self._write_turn = threading.Lock() if self.engine.dialect.name == "sqlite" else None
        try:
            _migrate.upgrade(self.engine, create=create)
        except DatabaseError as exc:
            self.engine.dispose()
            raise StoreError(
                f"cannot open the metadata store {self.safe_uri}: {exc.orig}. "
                "Check that the URI names an mlpilot database"
            ) from exc
        except BaseException:
            self.engine.dispose()
            raise

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def safe_uri(self) -> str:
        """The URI with any password hidden, fit for messages and ``mlpilot doctor``."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads; on SQLite it never waits for writers (WAL)."""
        with _out_of_range(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that commits on success and rolls back on any exception."""
        turn = self._write_turn or contextlib.nullcontext()
        try:
            with _out_of_range(), turn, self._writer.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreError(f"metadata store write failed: {exc.orig}") from exc

    def record_event(
        self,
        conn: Connection,
        kind: str,
        object_type: str,
        object_id: str,
        actor: str,
        **payload: Any,
    ) -> None:
        """Append an ``events`` row inside the caller's transaction."""
        conn.execute(
            insert(events).values(
                ts_ms=now_ms(),
                kind=kind,
                object_type=object_type,
                object_id=object_id,
                actor=actor,
                payload=payload,
            )
        )

    def upsert(
        self,
        conn: Connection,
        table: Table,
        rows: Sequence[dict[str, Any]],
        keys: Sequence[str],
        only_if: Callable[[Any], ColumnElement[bool]] | None = None,
    ) -> None:
        """Insert ``rows``, or update the row with the same ``keys``.

        ``only_if(incoming)`` limits updates to the existing rows for which it is true;
        ``incoming.step`` names the value being written, ``table.c.step`` the stored one.
        """
        if not rows:
            return
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = dialect_insert(table)
        updates = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys}
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=keys,
                set_=updates,
                where=None if only_if is None else only_if(statement.excluded),
            ),
            list(rows),
        )

    def insert_ignoring_conflicts(
        self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]]
    ) -> None:
        """Insert ``rows``, skipping those whose primary key already exists."""
        if not rows:
            return
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        conn.execute(dialect_insert(table).on_conflict_do_nothing(), list(rows))

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def _out_of_range() -> Iterator[None]:
    """Turn a number the database cannot hold (beyond 64 bits) into the caller's mistake."""
    try:
        yield
    except OverflowError as exc:  # SQLite's driver, before the query runs
        raise InvalidInputError(f"a number is too large for the store: {exc}") from None
    except DataError as exc:  # PostgreSQL: "integer out of range" and the like
        raise InvalidInputError(f"a value the store cannot hold: {exc.orig}") from None
