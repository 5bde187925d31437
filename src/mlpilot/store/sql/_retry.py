"""Write transactions that PostgreSQL may abort under contention, run again whole."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from mlpilot.errors import StoreError
from mlpilot.store._metadata import MetadataStore

T = TypeVar("T")

#: PostgreSQL's codes for "deadlock detected" and "could not serialize access".
_TRANSIENT = {"40P01", "40001"}
_ATTEMPTS = 8


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a deadlock or serialisation failure, which a retry resolves."""
    cause = exc.__cause__ if isinstance(exc, StoreError) else exc
    if not isinstance(cause, OperationalError):
        return False
    return getattr(cause.orig, "sqlstate", None) in _TRANSIENT


def write_retrying(metadata: MetadataStore, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in a write transaction, again from the start if PostgreSQL chose it
    as the victim of a deadlock or serialisation failure (the database rolled it back
    whole, so running it again cannot write anything twice)."""
    for attempt in range(_ATTEMPTS):
        try:
            with metadata.write() as conn:
                return work(conn)
        except (StoreError, OperationalError) as exc:
            if attempt + 1 == _ATTEMPTS or not is_transient(exc):
                raise
        # Random back-off, so that the two transactions do not collide again in step.
        time.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")
