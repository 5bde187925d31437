"""``mlpilot controller``: run every monitor and trigger on its own, and settle what
their alerts start, as the one active controller of the store or a standby."""

from __future__ import annotations

import signal
import time
from typing import Annotated, Any

import typer

from mlpilot.cli import _output
from mlpilot.cli._state import state


def controller_command(
    ctx: typer.Context,
    interval: Annotated[
        float, typer.Option("--interval", metavar="SECONDS", help="Seconds between rounds.")
    ] = 5.0,
    lease: Annotated[
        float,
        typer.Option(
            "--lease",
            metavar="SECONDS",
            help="How long the lease lasts unless renewed: a standby takes over this long "
            "after the active controller stops.",
        ),
    ] = 15.0,
) -> None:
    """Run every monitor that is not paused and start the pipelines of the triggers that
    are due, a round every --interval seconds, until stopped (Ctrl-C or SIGTERM). Of
    several controllers on one store, one acts and the others stand by, taking over when
    it stops."""
    from mlpilot.monitor import Controller

    controller = Controller(state(ctx).client(), interval_s=interval, lease_s=lease)
    console = _output.stderr()
    seen: dict[str, Any] = {"active": None}

    def report(done: Any) -> None:
        if done.active != seen["active"]:
            seen["active"] = done.active
            when = time.strftime("%H:%M:%S")
            if done.active:
                console.print(f"{when} active: running the monitors as {controller.holder}")
            else:
                console.print(f"{when} standing by: {done.holder} holds the controller lease")
        for name, windows in done.windows.items():
            alerts = [alert for window in windows for alert in window.alerts]
            if windows or alerts:
                console.print(f"  {name}: {len(windows)} windows, {len(alerts)} alerts")
            for alert in alerts:
                console.print(f"    alert {alert.id}: {alert.message}")
        for firing in done.fired:
            console.print(f"  trigger {firing.trigger} fired for {firing.key} (log {firing.log})")
        for name, error in done.failed.items():
            console.print(f"  [red]{name} failed:[/red] {error}")

    def stop(signum: int, frame: Any) -> None:
        controller.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    controller.run(on_round=report)
    console.print("Stopped; the lease is released.")
