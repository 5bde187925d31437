"""Start a retraining pipeline, never two at once for one model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from mlpilot.errors import InvalidInputError
from mlpilot.monitor.actions._base import Action, AlertContext, outcome
from mlpilot.store import _schema as db
from mlpilot.store import now_ms

#: A retrain on another machine whose end this one cannot see counts as lost after this.
STALE_AFTER_MS = 24 * 3600 * 1000
_HOST = os.uname().nodename if hasattr(os, "uname") else "localhost"
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

    kind = "retrain"

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
        return {"kind": self.kind, "pipeline": self.pipeline, "params": self.params}

    def run(self, context: AlertContext) -> dict[str, Any]:
        metadata = context.client.store.metadata
        settings = context.client.settings
        started = now_ms()
        with metadata.write() as conn:
            running = conn.execute(
                select(db.monitor_retrains).where(
                    db.monitor_retrains.c.model == context.model,
                    db.monitor_retrains.c.status == "running",
                )
            ).all()
            alive = [row for row in running if _alive(row)]
            if alive:
                other = alive[0]
                return outcome(
                    self.kind,
                    "skipped",
                    f"a retrain of {context.model} started by alert {other.alert_id} is still "
                    f"running (pid {other.pid})",
                    retrain_id=other.id,
                )
            champion = conn.execute(
                select(db.model_aliases.c.version).where(
                    db.model_aliases.c.model == context.model,
                    db.model_aliases.c.alias == "champion",
                )
            ).scalar()
            inserted = conn.execute(
                insert(db.monitor_retrains).values(
                    model=context.model,
                    alert_id=context.alert_id,
                    pipeline=self.pipeline,
                    params=self.params,
                    host=_HOST,
                    pid=None,
                    log_path="",
                    status="running",
                    champion_before=champion,
                    started_ms=started,
                    outcome="",
                )
            )
            retrain_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
        logs = Path(settings.home) / "monitor"
        log_path = logs / f"retrain-{retrain_id}.log"
        command = [
            sys.executable,
            "-c",
            "from mlpilot.cli import main; main()",
            "--store-uri",
            settings.store_uri,
            "--artifacts-uri",
            settings.artifacts_uri,
            "--home",
            str(settings.home),
            "pipelines",
            "run",
            self.pipeline,
            "--json",
        ]
        for key, value in self.params.items():
            command += ["--param", f"{key}={json.dumps(value)}"]
        env = {
            **os.environ,
            "MLPILOT_STORE_URI": settings.store_uri,
            "MLPILOT_ARTIFACTS_URI": settings.artifacts_uri,
            "MLPILOT_HOME": str(settings.home),
        }
        try:
            logs.mkdir(parents=True, exist_ok=True)
            with open(log_path, "wb") as log:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
        except OSError as exc:
            _finish(context, retrain_id, "failed", f"could not start the pipeline: {exc}")
            return outcome(self.kind, "failed", f"could not start {self.pipeline}: {exc}")
        with _children_lock:
            _children[process.pid] = process
        with metadata.write() as conn:
            conn.execute(
                update(db.monitor_retrains)
                .where(db.monitor_retrains.c.id == retrain_id)
                .values(pid=process.pid, log_path=str(log_path))
            )
        return outcome(
            self.kind,
            "running",
            f"started {self.pipeline} (pid {process.pid})",
            retrain_id=retrain_id,
            pid=process.pid,
            log=str(log_path),
        )

    def settle(self, context: AlertContext, outcome_: dict[str, Any]) -> dict[str, Any] | None:
        retrain_id = outcome_.get("retrain_id")
        if outcome_.get("status") != "running" or retrain_id is None:
            return None
        metadata = context.client.store.metadata
        with metadata.read() as conn:
            row = conn.execute(
                select(db.monitor_retrains).where(db.monitor_retrains.c.id == retrain_id)
            ).first()
        if row is None:
            return outcome(self.kind, "failed", "the retrain's record is gone")
        if row.status == "running":
            if _alive(row):
                return None
            status, detail = _result(context, row)
            _finish(context, row.id, status, detail)
        else:
            status, detail = row.status, row.outcome
        return {**outcome_, "status": "ok" if status == "finished" else "failed", "detail": detail}


def _alive(row: Any) -> bool:
    """Whether the retrain process of a ``monitor_retrains`` row still runs."""
    if row.pid is None:
        # Recorded, not started yet (or its starter died before saying which process).
        return bool(now_ms() - row.started_ms < 60_000)
    with _children_lock:
        child = _children.get(row.pid)
    if child is not None and row.host == _HOST:
        return child.poll() is None
    if row.host != _HOST:
        return bool(now_ms() - row.started_ms < STALE_AFTER_MS)
    import psutil

    try:
        process = psutil.Process(row.pid)
        created_ms = process.create_time() * 1000
        return bool(
            process.status() != psutil.STATUS_ZOMBIE
            and row.started_ms - 2000 <= created_ms <= row.started_ms + 60_000
        )
    except psutil.Error:
        return False


def _result(context: AlertContext, row: Any) -> tuple[str, str]:
    """How a retrain that ended went: ``finished`` or ``failed``, and what came of it."""
    with _children_lock:
        child = _children.pop(row.pid, None)
    code = child.poll() if child is not None else None
    report = _last_json(Path(row.log_path)) if row.log_path else None
    status = report.get("status") if report else None
    if status != "finished" and (status is not None or code not in (0, None)):
        run = f" run {report['run_id']}" if report and report.get("run_id") else ""
        return "failed", (
            f"the retraining pipeline{run} ended {status or f'with exit code {code}'}; "
            f"see {row.log_path}; version {row.champion_before} stays champion"
        )
    metadata = context.client.store.metadata
    with metadata.read() as conn:
        moved = conn.execute(
            select(db.alias_moves)
            .where(
                db.alias_moves.c.model == row.model,
                db.alias_moves.c.alias == "champion",
                db.alias_moves.c.ts_ms >= row.started_ms,
                db.alias_moves.c.kind.in_(("promote", "override", "set")),
            )
            .order_by(db.alias_moves.c.id.desc())
        ).first()
        refused = conn.execute(
            select(db.events)
            .where(
                db.events.c.kind == "model.promotion_refused",
                db.events.c.object_id == row.model,
                db.events.c.ts_ms >= row.started_ms,
            )
            .order_by(db.events.c.id.desc())
        ).first()
        champion = conn.execute(
            select(db.model_aliases.c.version).where(
                db.model_aliases.c.model == row.model, db.model_aliases.c.alias == "champion"
            )
        ).scalar()
    if moved is not None:
        return "finished", f"the champion moved to version {moved.version}"
    if refused is not None:
        return "finished", (
            f"the gate refused version {refused.payload.get('version')}; version {champion} "
            "stays champion"
        )
    return "finished", f"the pipeline promoted nothing; version {champion} stays champion"


def _finish(context: AlertContext, retrain_id: int, status: str, detail: str) -> None:
    with context.client.store.metadata.write() as conn:
        conn.execute(
            update(db.monitor_retrains)
            .where(
                db.monitor_retrains.c.id == retrain_id, db.monitor_retrains.c.status == "running"
            )
            .values(status=status, ended_ms=now_ms(), outcome=detail)
        )


def _last_json(path: Path) -> dict[str, Any] | None:
    """The JSON document ``mlpilot pipelines run --json`` printed last, if any."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    start = text.rfind("\n{")
    start = start + 1 if start >= 0 else (0 if text.startswith("{") else -1)
    if start < 0:
        return None
    end = text.find("\n}", start)
    try:
        found = json.loads(text[start : end + 2] if end >= 0 else text[start:])
    except ValueError:
        return None
    return found if isinstance(found, dict) else None
