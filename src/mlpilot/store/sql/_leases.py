"""Leases in SQL: the ``leases`` table."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from mlpilot.errors import InvalidInputError
from mlpilot.store._metadata import MetadataStore, now_ms
from mlpilot.store._schema import leases
from mlpilot.store._validate import check_key
from mlpilot.store.base._leases import Lease
from mlpilot.store.sql._retry import write_retrying

#: The longest a lease may last: a holder renews it long before.
_LONGEST_S = 365 * 86400


class SqlLeaseRecords:
    """:class:`~mlpilot.store.base.LeaseRecords` over the metadata database."""

    def __init__(self, metadata: MetadataStore) -> None:
        self._metadata = metadata

    def acquire(self, name: str, holder: str, ttl_s: float) -> Lease | None:
        check_key(name, "a lease name")
        check_key(holder, "a lease holder")
        if (
            isinstance(ttl_s, bool)
            or not isinstance(ttl_s, int | float)
            or not 0 < ttl_s <= _LONGEST_S
        ):
            raise InvalidInputError(
                f"a lease lasts a positive number of seconds, at most a year; got {ttl_s!r}"
            )

        def take(conn: Connection) -> Lease | None:
            now = now_ms()
            expires = now + int(ttl_s * 1000)
            row = conn.execute(
                select(leases).where(leases.c.name == name).with_for_update()
            ).first()
            if row is None:
                conn.execute(
                    insert(leases).values(
                        name=name, holder=holder, acquired_ms=now, expires_ms=expires
                    )
                )
                self._event(conn, "lease.acquired", name, holder, previous=None)
                return Lease(name, holder, now, expires)
            if row.holder == holder:
                conn.execute(update(leases).where(leases.c.name == name).values(expires_ms=expires))
                return Lease(name, holder, row.acquired_ms, expires)
            if row.expires_ms > now:
                return None
            # Taken over only if no one else did meanwhile (the row is locked on
            # PostgreSQL; SQLite writes one at a time).
            taken = conn.execute(
                update(leases)
                .where(leases.c.name == name, leases.c.holder == row.holder)
                .values(holder=holder, acquired_ms=now, expires_ms=expires)
            ).rowcount
            if not taken:
                return None
            self._event(conn, "lease.acquired", name, holder, previous=row.holder)
            return Lease(name, holder, now, expires)

        try:
            return write_retrying(self._metadata, take)
        except IntegrityError:  # another process created the lease first
            return None

    def release(self, name: str, holder: str) -> None:
        def let_go(conn: Connection) -> None:
            released = conn.execute(
                update(leases)
                .where(leases.c.name == name, leases.c.holder == holder)
                .values(expires_ms=0)
            ).rowcount
            if released:
                self._event(conn, "lease.released", name, holder)

        write_retrying(self._metadata, let_go)

    def get(self, name: str) -> Lease | None:
        with self._metadata.read() as conn:
            row = conn.execute(select(leases).where(leases.c.name == name)).first()
        return None if row is None else Lease(row.name, row.holder, row.acquired_ms, row.expires_ms)

    def _event(
        self, conn: Connection, kind: str, name: str, holder: str, **payload: object
    ) -> None:
        self._metadata.record_event(conn, kind, "lease", name, holder, **payload)
