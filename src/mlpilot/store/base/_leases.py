"""Leases: a role that one process at a time may play, such as running the monitors."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable


@dataclasses.dataclass(frozen=True)
class Lease:
    """Who holds a role, and until when unless they renew it."""

    name: str
    holder: str
    #: When this holder took the lease (renewals keep it), in UTC milliseconds.
    acquired_ms: int
    expires_ms: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@runtime_checkable
class LeaseRecords(Protocol):
    """Leases; each method is one atomic unit, safe with many processes at once.

    A lease's name and holder are keys; bad input raises
    :class:`~mlpilot.errors.InvalidInputError`.
    """

    def acquire(self, name: str, holder: str, ttl_s: float) -> Lease | None:
        """Take or renew the lease ``name`` for ``holder`` until ``ttl_s`` from now; the
        lease, or None while another holder's has not expired. A change of holder
        records the event ``lease.acquired`` (with the previous holder, if any)."""
        ...

    def release(self, name: str, holder: str) -> None:
        """Let the lease go now, if ``holder`` holds it (event ``lease.released``)."""
        ...

    def get(self, name: str) -> Lease | None:
        """The lease ``name`` as stored (expired or not), or None if never taken."""
        ...
