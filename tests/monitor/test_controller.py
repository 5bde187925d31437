"""The controller runs the monitors on its own: one controller of a store acts, the
others stand by and take over when it stops or dies."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from mlpilot.errors import InvalidInputError
from mlpilot.monitor import Controller, Monitors
from mlpilot.schedule._launch import settings_environment
from mlpilot.store import Store, now_ms
from mlpilot.tracking import TrackingClient

from .test_actions import watch
from .test_monitor import log, traffic

pytestmark = pytest.mark.integration


def wait_for(condition: Any, what: str, timeout_s: float = 60) -> Any:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def test_a_round_runs_every_monitor_that_is_not_paused(
    store: Store, client: TrackingClient, monitors: Monitors
) -> None:
    watch(monitors)
    watch(monitors, name="quiet")
    monitors.pause("quiet")
    log(store, traffic(200, shift=2.0), start_ms=now_ms(), step_ms=1)

    done = Controller(client, interval_s=1, lease_s=5).step()

    assert done.active and set(done.windows) == {"watch"}
    [window] = done.windows["watch"]
    assert window.alerts and done.failed == {}
    assert monitors.windows("quiet") == []


def test_of_two_controllers_one_acts_until_it_lets_go(
    client: TrackingClient, monitors: Monitors
) -> None:
    first = Controller(client, interval_s=1, lease_s=5, holder="first")
    second = Controller(client, interval_s=1, lease_s=5, holder="second")

    assert first.step().active
    standby = second.step()
    assert not standby.active and standby.holder == "first"
    first.stop()
    first.run()  # stops at once, letting the lease go
    assert second.step().active
    with pytest.raises(InvalidInputError, match="at least twice"):
        Controller(client, interval_s=5, lease_s=6)


def test_a_standby_takes_over_from_a_killed_controller_and_no_alert_acts_twice(
    store: Store,
    monitors: Monitors,
    hook: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = hook
    watch(monitors, {"kind": "webhook", "url": url})
    env = settings_environment(store.settings)
    command = [
        sys.executable,
        "-m",
        "mlpilot",
        "controller",
        "--interval",
        "0.5",
        "--lease",
        "3",
    ]
    controllers = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    try:
        first = wait_for(lambda: store.leases.get("controller"), "a controller to take the lease")
        [active] = [p for p in controllers if f":{p.pid}:" in first.holder]
        [standby] = [p for p in controllers if p is not active]
        log(store, traffic(200, shift=2.0), start_ms=now_ms(), step_ms=1)
        wait_for(lambda: received, "the alert's webhook")

        active.send_signal(signal.SIGKILL)
        active.wait(30)
        taken = wait_for(
            lambda: (
                (lease := store.leases.get("controller")) and f":{standby.pid}:" in lease.holder
            ),
            "the standby to take over",
        )
        assert taken
        log(store, traffic(200, shift=2.0, seed=9), start_ms=now_ms(), step_ms=1)
        wait_for(lambda: len(received) == 2, "the next alert's webhook")

        standby.send_signal(signal.SIGTERM)
        assert standby.wait(60) == 0
    finally:
        for process in controllers:
            if process.poll() is None:
                process.kill()
            process.wait(30)
            if process.stderr is not None:
                process.stderr.close()

    assert [document["window_index"] for document in received] == [0, 1]
    lease = store.leases.get("controller")
    assert lease is not None and lease.expires_ms == 0  # let go on SIGTERM
    assert [e.payload["previous"] for e in store.events.read("lease.acquired")][-1] == (
        first.holder
    )
