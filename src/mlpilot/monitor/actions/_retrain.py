"""Start a retraining pipeline, never two at once for one model."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.monitor.actions._base import Action, AlertContext, outcome
from mlpilot.schedule._launch import launch_pipeline
from mlpilot.store._metadata import now_ms
from mlpilot.store.base._monitors import RetrainRecord, monitor_actor

#: A retrain on another machine whose end this one cannot see counts as lost after this.
STALE_AFTER_MS = 24 * 3600 * 1000
#: The tag of the pipeline run a retrain started, its value the retrain's id.
RETRAIN_TAG = "mlpilot.retrain"
#: This machine, as retrains record it.
HOST = os.uname().nodename if hasattr(os, "uname") else "localhost"
# Processes this one started, so that their exit status is read (and they are reaped).
_children: dict[int, subprocess.Popen[bytes]] = {}
_children_lock = threading.Lock()


class RetrainAction(Action):
    """Run ``mlpilot pipelines run PIPELINE --param K=V ...`` in a process of its own,
    against the same store, and record it.

    While an earlier retrain of the same model still runs, the action is skipped (and
    recorded as skipped). Once the pipeline ends, :meth:`settle` records what came of
    it: the champion moved to a new version, the gate refused, or the pipeline failed.

    Args:
        pipeline: ``FILE:PIPELINE`` or ``module:pipeline``, as ``mlpilot pipelines run``
            takes it.
        params: the pipeline's parameters, each passed as ``--param NAME=<JSON>``.
    """

    name = "retrain"

    def __init__(self, pipeline: str, params: Mapping[str, Any] | None = None) -> None:
        if not isinstance(pipeline, str) or ":" not in pipeline:
            raise InvalidInputError(
                f"a retrain action names its pipeline as FILE:PIPELINE, got {pipeline!r}"
            )
        params = dict(params or {})
        for key in params:
            if not isinstance(key, str) or not key.isidentifier():
                raise InvalidInputError(f"a pipeline parameter name is an identifier, got {key!r}")
        try:
            json.dumps(params)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"retrain params must be JSON values: {exc}") from None
        self.pipeline = pipeline
        self.params = params

    def to_spec(self) -> dict[str, Any]:
        return {"kind": self.name, "pipeline": self.pipeline, "params": self.params}

    def checked(self) -> RetrainAction:
        """Load the pipeline and check the parameters against it; a file is named by its
        absolute path, since the retrain may start from another folder."""
        from mlpilot.schedule._load import checked_pipeline

        return RetrainAction(checked_pipeline(self.pipeline, self.params), self.params)

    def run(self, context: AlertContext) -> dict[str, Any]:
        records = context.client.store.monitors
        settings = context.client.settings
        running = records.running_retrains(context.model)
        alive = [retrain for retrain in running if _alive(retrain)]
        if alive:
            other = alive[0]
            return outcome(
                self.name,
                "skipped",
                f"a retrain of {context.model} started by alert {other.alert_id} is still "
                f"running (pid {other.pid})",
                retrain_id=other.id,
            )
        try:
            retrain = records.start_retrain(
                context.model,
                alert_id=context.alert_id,
                pipeline=self.pipeline,
                params=self.params,
                host=HOST,
                dead=[retrain.id for retrain in running],
            )
        except ConflictError as exc:  # another process started one meanwhile
            return outcome(self.name, "skipped", str(exc))
        log_path = Path(settings.home) / "monitor" / f"retrain-{retrain.id}.log"
        try:
            process = launch_pipeline(
                settings,
                self.pipeline,
                self.params,
                # The pipeline run says how the retrain went: this tag finds it.
                tags={RETRAIN_TAG: str(retrain.id)},
                # What the retrain records (its run, the version, the promotion) names
                # the monitor as who did it.
                actor=monitor_actor(context.monitor),
                log_path=log_path,
            )
        except OSError as exc:
            records.finish_retrain(retrain.id, "failed", f"could not start the pipeline: {exc}")
            return outcome(self.name, "failed", f"could not start {self.pipeline}: {exc}")
        with _children_lock:
            _children[process.pid] = process
        records.set_retrain_process(retrain.id, process.pid, str(log_path))
        return outcome(
            self.name,
            "running",
            f"started {self.pipeline} (pid {process.pid})",
            retrain_id=retrain.id,
            pid=process.pid,
            log=str(log_path),
        )

    def settle(self, context: AlertContext, outcome_: dict[str, Any]) -> dict[str, Any] | None:
        retrain_id = outcome_.get("retrain_id")
        if outcome_.get("status") != "running" or retrain_id is None:
            return None
        records = context.client.store.monitors
        try:
            retrain = records.retrain(int(retrain_id))
        except NotFoundError:
            return outcome(self.name, "failed", "the retrain's record is gone")
        if retrain.status == "running":
            if _alive(retrain):
                return None
            status, detail, links = _result(context, retrain)
            records.finish_retrain(retrain.id, status, detail)
        else:
            status, detail, links = retrain.status, retrain.outcome, {}
        ok = "ok" if status == "finished" else "failed"
        return {**outcome_, **links, "status": ok, "detail": detail}


def _alive(retrain: RetrainRecord) -> bool:
    """Whether the retrain's process still runs."""
    if retrain.pid is None:
        # Recorded, not started yet (or its starter died before saying which process).
        return bool(now_ms() - retrain.started_ms < 60_000)
    with _children_lock:
        child = _children.get(retrain.pid)
    if child is not None and retrain.host == HOST:
        return child.poll() is None
    if retrain.host != HOST:
        return bool(now_ms() - retrain.started_ms < STALE_AFTER_MS)
    import psutil

    try:
        process = psutil.Process(retrain.pid)
        created_ms = process.create_time() * 1000
        return bool(
            process.status() != psutil.STATUS_ZOMBIE
            and retrain.started_ms - 2000 <= created_ms <= retrain.started_ms + 60_000
        )
    except psutil.Error:
        return False


def _result(context: AlertContext, retrain: RetrainRecord) -> tuple[str, str, dict[str, Any]]:
    """How a retrain whose process ended went, from its pipeline run's own record:
    ``finished`` (the effect on the champion) or ``failed`` (the run failed, was killed,
    stopped without ending, or never began); what it says; and what it links to (the
    pipeline run, the gate's decision event, the version, the checks that failed)."""
    with _children_lock:
        child = _children.pop(retrain.pid, None) if retrain.pid is not None else None
    code = child.poll() if child is not None else None
    stays = f"version {retrain.champion_before} stays champion"
    runs = context.client.search_runs(filter=f"tags.`{RETRAIN_TAG}` = '{retrain.id}'")
    if not runs:
        ended = "" if code is None else f" (exit code {code})"
        return (
            "failed",
            (
                f"the retrain's process ended{ended} before its pipeline run began; see "
                f"{retrain.log_path}; {stays}"
            ),
            {},
        )
    run = runs[0]
    if run.status == "running":  # its process is gone, so nobody will end it
        context.client.end_run(run.id, "killed")
        return (
            "failed",
            (
                f"the retraining pipeline run {run.id} stopped without ending (its process "
                f"was killed); see {retrain.log_path}; {stays}"
            ),
            {"run_id": run.id},
        )
    if run.status != "finished":
        return (
            "failed",
            (
                f"the retraining pipeline run {run.id} ended {run.status}; see "
                f"{retrain.log_path}; {stays}"
            ),
            {"run_id": run.id},
        )
    effect = context.client.store.monitors.retrain_effect(retrain.id)
    links = {"run_id": run.id, "decision_event": effect.decision_event}
    if effect.moved_to is not None:
        return (
            "finished",
            f"the champion moved to version {effect.moved_to}",
            {
                **links,
                "version": effect.moved_to,
            },
        )
    if effect.refused is not None:
        why = "; ".join(f"{c['name']}: {c['detail']}" for c in effect.failed_checks)
        return (
            "finished",
            (
                f"the gate refused version {effect.refused} ({why or effect.gate_reason}); "
                f"version {effect.champion} stays champion"
            ),
            {**links, "version": effect.refused, "failed_checks": list(effect.failed_checks)},
        )
    return (
        "finished",
        (f"the pipeline promoted nothing; version {effect.champion} stays champion"),
        links,
    )
