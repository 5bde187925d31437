"""The controller: the closed loop running on its own, with no cron line.

A controller runs every monitor that is not paused, one round every ``interval_s``
seconds; each run settles the actions its alerts started (a retrain that ended) before
it reads new traffic, so an outcome is written back within one round of the end. Then
it fires the pipeline triggers that are due (a cron slot passed, a dataset got a new
version: :mod:`mlpilot.schedule._triggers`). Of
several controllers on one store, one acts: it holds the store's ``controller`` lease,
renewing it before each monitor, and the others stand by, taking over once the lease
expires (``lease_s`` after the active one stopped renewing: it died, or lost the
database). What a round did is in the store (windows are numbered, an alert is raised
once per rule and window), so a controller that restarts neither repeats nor loses an
action.

Example::

    controller = Controller(interval_s=5)
    controller.run()  # until stop() or a signal
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

from mlpilot.errors import InvalidInputError
from mlpilot.monitor._monitor import Monitors
from mlpilot.schedule._triggers import Firing, Triggers
from mlpilot.store.base._monitors import WindowResult
from mlpilot.tracking import TrackingClient

_log = logging.getLogger(__name__)
#: The lease the active controller holds.
LEASE = "controller"


@dataclasses.dataclass(frozen=True)
class Round:
    """What one round of a controller did."""

    #: Whether this controller held the lease (False: it stood by).
    active: bool
    #: Who holds the lease (this controller when active).
    holder: str | None
    #: The new windows of each monitor run, by monitor.
    windows: dict[str, list[WindowResult]] = dataclasses.field(default_factory=dict)
    #: Monitors (or triggers) whose run failed, with the error.
    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    #: The pipeline runs triggers started.
    fired: list[Firing] = dataclasses.field(default_factory=list)


class Controller:
    """Runs the monitors of one store on their own.

    Args:
        client: the store's tracking client; the default one when None.
        interval_s: seconds between rounds.
        lease_s: how long the lease lasts unless renewed; a standby takes over at most
            this long after the active controller stopped. At least twice
            ``interval_s``.
        holder: this controller's name in the lease; ``host:pid:random`` by default.
    """

    def __init__(
        self,
        client: TrackingClient | None = None,
        *,
        interval_s: float = 5.0,
        lease_s: float = 15.0,
        holder: str | None = None,
    ) -> None:
        for name, value in (("interval_s", interval_s), ("lease_s", lease_s)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise InvalidInputError(f"{name} must be a positive number of seconds")
        if lease_s < 2 * interval_s:
            raise InvalidInputError(
                f"lease_s ({lease_s:g}) must be at least twice interval_s ({interval_s:g}), "
                "so that the active controller renews its lease in time"
            )
        self.client = client or TrackingClient()
        self.monitors = Monitors(self.client)
        self.triggers = Triggers(self.client)
        self.interval_s = float(interval_s)
        self.lease_s = float(lease_s)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()

    def step(self) -> Round:
        """One round: take or renew the lease, then, if held, run every monitor that is
        not paused (renewing the lease before each, and stopping if it was lost)."""
        leases = self.client.store.leases
        if leases.acquire(LEASE, self.holder, self.lease_s) is None:
            current = leases.get(LEASE)
            return Round(False, None if current is None else current.holder)
        done = Round(True, self.holder)
        for monitor in self.monitors.list_monitors():
            if self._stop.is_set():
                break
            if monitor.paused:
                continue
            if leases.acquire(LEASE, self.holder, self.lease_s) is None:
                current = leases.get(LEASE)
                holder = None if current is None else current.holder
                _log.warning("lost the controller lease to %s", holder)
                return dataclasses.replace(done, active=False, holder=holder)
            try:
                done.windows[monitor.name] = self.monitors.run_once(monitor.name)
            except Exception as exc:  # one monitor's trouble must not stop the others
                _log.exception("monitor %s failed", monitor.name)
                done.failed[monitor.name] = f"{type(exc).__name__}: {exc}"
        if not self._stop.is_set() and leases.acquire(LEASE, self.holder, self.lease_s):
            try:
                done.fired.extend(self.triggers.fire_due())
            except Exception as exc:
                _log.exception("firing the triggers failed")
                done.failed["triggers"] = f"{type(exc).__name__}: {exc}"
        return done

    def run(self, on_round: Callable[[Round], None] | None = None) -> None:
        """Run rounds until :meth:`stop`; then let the lease go, so that a standby takes
        over at once."""
        try:
            while not self._stop.is_set():
                done = self.step()
                if on_round is not None:
                    on_round(done)
                self._stop.wait(self.interval_s)
        finally:
            self.client.store.leases.release(LEASE, self.holder)

    def stop(self) -> None:
        """End :meth:`run` after the monitor it is running, if any."""
        self._stop.set()
