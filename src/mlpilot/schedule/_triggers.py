"""Triggers: pipelines started on their own, on a cron schedule or when a dataset gets a
new version (or one of its tags moves). ``mlpilot controller`` fires them.

A trigger fires once per key: the schedule's slot (its time), or the dataset version.
It remembers the key it last fired for, starting from the present: creating a trigger
does not fire it for the slot that just passed or the version that is there. Firing
claims the key in the store first, so that of two controllers one starts the run; a
claim whose controller died before the run started is taken up again after
``stale_s``.

Example::

    triggers = Triggers()
    triggers.create("nightly", pipeline="flows.py:train", cron="0 3 * * *")
    triggers.create("on-new-data", pipeline="flows.py:train", dataset="churn")
    triggers.fire_due()   # what the controller calls every round
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.schedule._launch import launch_pipeline
from mlpilot.schedule._load import checked_pipeline
from mlpilot.store._metadata import now_ms
from mlpilot.store._validate import check_key
from mlpilot.store.base._triggers import Trigger
from mlpilot.tracking import TrackingClient

#: The tags of a run a trigger started: the trigger, and what it fired for.
TRIGGER_TAG = "mlpilot.trigger"
TRIGGER_KEY_TAG = "mlpilot.trigger_key"
# The runs this process started, reaped once they end.
_running: list[subprocess.Popen[bytes]] = []


@dataclasses.dataclass(frozen=True)
class Firing:
    """A run a trigger started."""

    trigger: str
    key: str
    pid: int
    log: str


class Triggers:
    """The triggers of one store.

    Args:
        client: the tracking client of the store; the default one when None.
    """

    def __init__(self, client: TrackingClient | None = None) -> None:
        self.client = client or TrackingClient()
        self.records = self.client.store.triggers

    def create(
        self,
        name: str,
        *,
        pipeline: str,
        params: Mapping[str, Any] | None = None,
        cron: str | None = None,
        dataset: str | None = None,
        tag: str | None = None,
    ) -> Trigger:
        """Create a trigger of ``pipeline`` on a ``cron`` schedule (UTC) or on new
        versions of ``dataset`` (with ``tag``: when that tag moves).

        Raises:
            InvalidInputError: a bad name or cron expression, both or neither of
                ``cron`` and ``dataset``, a ``tag`` without ``dataset``, or parameters
                the pipeline does not take.
            NotFoundError: no such pipeline or dataset.
            ConflictError: a trigger of that name exists.
        """
        check_key(name, "a trigger name")
        if (cron is None) == (dataset is None):
            raise InvalidInputError("a trigger fires on a schedule (--cron) or on a dataset")
        if tag is not None and dataset is None:
            raise InvalidInputError("a tag is of a dataset: give --dataset with --tag")
        if cron is not None and not _cron_valid(cron):
            raise InvalidInputError(
                f"{cron!r} is not a cron expression (MINUTE HOUR DAY MONTH WEEKDAY, "
                "e.g. '0 3 * * *')"
            )
        params = dict(params or {})
        try:
            json.dumps(params, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"trigger params must be JSON values: {exc}") from None
        if dataset is not None and not self.client.store.datasets.list_versions(dataset):
            raise NotFoundError(f"no dataset named {dataset!r}; register it first")
        created = now_ms()
        trigger = Trigger(
            name=name,
            pipeline=checked_pipeline(pipeline, params),
            params=params,
            cron=cron,
            dataset=dataset,
            tag=tag,
            created_ms=created,
            created_by=self.client.settings.user,
        )
        trigger = dataclasses.replace(trigger, last_key=self.due_key(trigger, created))
        self.records.create(trigger)
        return trigger

    def get(self, name: str) -> Trigger:
        return self.records.get(name)

    def list_triggers(self) -> list[Trigger]:
        return self.records.list_triggers()

    def delete(self, name: str) -> None:
        self.records.delete(name)

    def due_key(self, trigger: Trigger, at_ms: int | None = None) -> str | None:
        """What ``trigger`` fires for as of ``at_ms`` (now): the latest slot of its
        schedule, or the version its dataset (tag) names; None if there is none."""
        if trigger.cron is not None:
            from croniter import croniter

            at = dt.datetime.fromtimestamp((at_ms or now_ms()) / 1000, dt.UTC)
            slot: dt.datetime = croniter(trigger.cron, at).get_prev(dt.datetime)
            return slot.isoformat()
        assert trigger.dataset is not None
        try:
            version = self.client.store.datasets.get_version(
                trigger.dataset, trigger.tag or "latest"
            )
        except NotFoundError:  # no version yet, or the tag is not set yet
            return None
        return version.ref

    def fire_due(self, stale_s: float = 60.0, at_ms: int | None = None) -> list[Firing]:
        """Start the pipeline of every trigger whose key moved since it last fired, as of
        ``at_ms`` (now)."""
        _running[:] = [process for process in _running if process.poll() is None]
        started = []
        for trigger in self.records.list_triggers():
            key = self.due_key(trigger, at_ms)
            if key is None or key == trigger.last_key:
                continue
            if not self.records.claim(trigger.name, key, stale_s):
                continue  # another controller fires it
            firing = self._start(trigger, key)
            self.records.fired(trigger.name, key, {"pid": firing.pid, "log": firing.log})
            started.append(firing)
        return started

    def _start(self, trigger: Trigger, key: str) -> Firing:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        log = Path(self.client.settings.home) / "triggers" / f"{trigger.name}-{stamp}.log"
        process = launch_pipeline(
            self.client.settings,
            trigger.pipeline,
            trigger.params,
            tags={TRIGGER_TAG: trigger.name, TRIGGER_KEY_TAG: key},
            actor=f"trigger:{trigger.name}",
            log_path=log,
        )
        _running.append(process)
        return Firing(trigger.name, key, process.pid, str(log))


def _cron_valid(expression: str) -> bool:
    from croniter import croniter

    return isinstance(expression, str) and bool(croniter.is_valid(expression))
