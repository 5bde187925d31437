"""Tracking records in SQL: experiments, runs, params, metrics, tags and artifacts."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError, StoreError
from mlpilot.store._artifacts import validate_artifact_path
from mlpilot.store._inputs import metric_batch, text_rows
from mlpilot.store._metadata import MetadataStore, now_ms
from mlpilot.store._schema import experiments, run_artifacts, runs
from mlpilot.store._schema import params as param_table
from mlpilot.store._schema import tags as tag_table
from mlpilot.store._validate import check_key, check_status, check_text
from mlpilot.store.base._tracking import (
    ArtifactRecord,
    Experiment,
    MetricPoint,
    RunRecord,
    Series,
)
from mlpilot.store.sql import _queries
from mlpilot.store.sql._liveness import HOST, mark_dead_runs
from mlpilot.store.sql._metrics import read_history, without_deleted_runs, write_series
from mlpilot.store.sql._pipeline_rows import settle_unfinished

# Re-exported: the other domains' SQL retries its writes the same way.
from mlpilot.store.sql._retry import write_retrying as write_retrying


class SqlTrackingRecords:
    """:class:`~mlpilot.store.base.TrackingRecords` over the metadata database.

    Args:
        metadata: The database.
        actor: Who the events of writes name (the settings' user).
    """

    def __init__(self, metadata: MetadataStore, actor: str) -> None:
        self._metadata = metadata
        self._actor = actor

    # -- experiments -----------------------------------------------------------------

    def create_experiment(self, name: str, description: str = "") -> int:
        check_key(name, "experiment name")
        check_text("description", description, "experiment")

        def create(conn: Connection) -> int:
            if self._experiment_id(conn, name) is not None:
                raise ConflictError(f"experiment {name!r} exists already")
            return self._insert_experiment(conn, name, description)

        try:
            return write_retrying(self._metadata, create)
        except IntegrityError:  # created by another process since the check (PostgreSQL)
            raise ConflictError(f"experiment {name!r} exists already") from None

    def get_or_create_experiment(self, name: str) -> int:
        check_key(name, "experiment name")
        with self._metadata.read() as conn:
            found = self._experiment_id(conn, name)
        if found is not None:
            return found

        def create(conn: Connection) -> int:
            found = self._experiment_id(conn, name)
            return found if found is not None else self._insert_experiment(conn, name, "")

        try:
            return write_retrying(self._metadata, create)
        except IntegrityError:
            # PostgreSQL does not serialise the check and the insert: another process
            # created the experiment in between, so it exists now.
            with self._metadata.read() as conn:
                found = self._experiment_id(conn, name)
            if found is None:
                raise StoreError(f"experiment {name!r} could not be created") from None
            return found

    def list_experiments(self) -> list[Experiment]:
        counts = (
            select(runs.c.experiment_id, func.count().label("n"))
            .group_by(runs.c.experiment_id)
            .subquery()
        )
        query = (
            select(experiments, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.experiment_id == experiments.c.id)
            .order_by(experiments.c.id)
        )
        with self._metadata.read() as conn:
            return [Experiment(*row) for row in conn.execute(query)]

    def _experiment_id(self, conn: Connection, name: str) -> int | None:
        found = conn.execute(select(experiments.c.id).where(experiments.c.name == name)).scalar()
        return None if found is None else int(found)

    def _insert_experiment(self, conn: Connection, name: str, description: str) -> int:
        inserted = conn.execute(
            insert(experiments).values(name=name, description=description, created_ms=now_ms())
        )
        experiment_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
        self._event(conn, "experiment.created", "experiment", str(experiment_id), name=name)
        return experiment_id

    # -- runs ------------------------------------------------------------------------

    def create_run(
        self,
        experiment: str,
        name: str | None = None,
        *,
        parent_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        host: str | None = None,
        pid: int | None = None,
    ) -> RunRecord:
        experiment_id = self.get_or_create_experiment(experiment)
        run_id = uuid.uuid4().hex
        name = check_key(name, "run name") if name is not None else f"run-{run_id[:8]}"
        param_rows = text_rows(run_id, params or {}, "param")
        tag_rows = text_rows(run_id, tags or {}, "tag")
        start = now_ms()
        row = {
            "id": run_id,
            "experiment_id": experiment_id,
            "name": name,
            "status": "running",
            "user": self._actor,
            "host": HOST if host is None else host,
            "pid": os.getpid() if pid is None else pid,
            "start_ms": start,
            "heartbeat_ms": start,
        }

        def create(conn: Connection) -> str | None:
            parent = None if parent_id is None else _queries.resolve_run_id(conn, parent_id)
            conn.execute(insert(runs).values({**row, "parent_id": parent}))
            if param_rows:
                conn.execute(insert(param_table), param_rows)
            if tag_rows:
                conn.execute(insert(tag_table), tag_rows)
            self._event(
                conn,
                "run.started",
                "run",
                run_id,
                experiment=experiment,
                name=name,
                parent_id=parent,
            )
            return parent

        parent = write_retrying(self._metadata, create)
        return RunRecord(
            **row,  # type: ignore[arg-type]
            experiment=experiment,
            parent_id=parent,
            end_ms=None,
            params={r["key"]: r["value"] for r in param_rows},
            tags={r["key"]: r["value"] for r in tag_rows},
        )

    def reopen_run(
        self, run_id: str, *, host: str | None = None, pid: int | None = None
    ) -> RunRecord:
        def reopen(conn: Connection) -> str:
            resolved = _queries.resolve_run_id(conn, run_id)
            previous = conn.execute(select(runs.c.status).where(runs.c.id == resolved)).scalar()
            # One conditional update, so that of two processes reopening the run at once
            # exactly one gets it (on PostgreSQL too, where the read above does not lock).
            changed = conn.execute(
                update(runs)
                .where(runs.c.id == resolved, runs.c.status != "running")
                .values(
                    status="running",
                    end_ms=None,
                    host=HOST if host is None else host,
                    pid=os.getpid() if pid is None else pid,
                    heartbeat_ms=now_ms(),
                )
            ).rowcount
            if not changed:
                raise ConflictError(f"run {resolved} is running already")
            self._event(conn, "run.resumed", "run", resolved, previous=previous)
            return resolved

        return self.get_run(write_retrying(self._metadata, reopen))

    def end_run(self, run_id: str, status: str = "finished") -> None:
        check_status(status)

        def end(conn: Connection) -> None:
            resolved = _queries.resolve_run_id(conn, run_id)
            previous = conn.execute(select(runs.c.status).where(runs.c.id == resolved)).scalar()
            ended = now_ms()
            conn.execute(
                update(runs).where(runs.c.id == resolved).values(status=status, end_ms=ended)
            )
            if status != "finished":
                settle_unfinished(conn, resolved, ended, f"the run ended {status}")
            self._event(conn, f"run.{status}", "run", resolved, previous=previous)

        write_retrying(self._metadata, end)

    def beat(self, run_ids: Sequence[str]) -> None:
        if not run_ids:
            return
        live = sorted(set(run_ids))  # one lock order for every process beating these runs

        def beat(conn: Connection) -> None:
            conn.execute(
                update(runs)
                .where(runs.c.id.in_(live), runs.c.status == "running")
                .values(heartbeat_ms=now_ms())
            )

        write_retrying(self._metadata, beat)

    def mark_dead_runs(self, heartbeat_timeout_s: float) -> list[str]:
        return mark_dead_runs(self._metadata, heartbeat_timeout_s)

    def resolve_run_id(self, run_id: str) -> str:
        with self._metadata.read() as conn:
            return _queries.resolve_run_id(conn, run_id)

    def get_run(self, run_id: str) -> RunRecord:
        with self._metadata.read() as conn:
            return _queries.fetch_runs(conn, [_queries.resolve_run_id(conn, run_id)])[0]

    def search_runs(
        self,
        experiments: Sequence[str] = (),
        filter: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        offset: int = 0,
    ) -> list[RunRecord]:
        if isinstance(experiments, str):
            experiments = [experiments]
        if isinstance(order_by, str):
            order_by = [order_by]
        for count, what in ((max_results, "max_results"), (offset, "offset")):
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise InvalidInputError(f"{what} must be an integer >= 0, got {count!r}")
        with self._metadata.read() as conn:
            return _queries.search(
                conn, list(experiments), filter, list(order_by), max_results, offset
            )

    def delete_run(self, run_id: str, *, force: bool = False, recursive: bool = False) -> list[str]:
        def remove(conn: Connection) -> list[str]:
            resolved = _queries.resolve_run_id(conn, run_id)
            subtree = _queries.descendants(conn, resolved)
            running = conn.execute(
                select(func.count()).where(runs.c.id.in_(subtree), runs.c.status == "running")
            ).scalar()
            if running and not force:
                raise ConflictError(
                    f"run {resolved} (or a child) is still running; end it first or pass force"
                )
            if len(subtree) > 1 and not recursive:
                raise ConflictError(
                    f"run {resolved} has {len(subtree) - 1} child run(s); delete them too "
                    "with recursive=True (`--recursive`)"
                )
            conn.execute(delete(runs).where(runs.c.id.in_(subtree)))
            self._event(conn, "run.deleted", "run", resolved, runs_deleted=len(subtree))
            return subtree

        return write_retrying(self._metadata, remove)

    # -- params, metrics, tags -------------------------------------------------------

    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Sequence[Any]] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        batch = metric_batch(run_id, metrics)
        param_rows = text_rows(run_id, params or {}, "param")
        tag_rows = text_rows(run_id, tags or {}, "tag")

        def log(conn: Connection) -> None:
            self._require(conn, run_id)
            self._write_params(conn, run_id, param_rows)
            self._write_tags(conn, run_id, tag_rows)
            write_series(self._metadata, conn, batch)

        write_retrying(self._metadata, log)

    def log_params(self, run_id: str, values: Mapping[str, Any]) -> None:
        rows = text_rows(run_id, values, "param")

        def log(conn: Connection) -> None:
            self._require(conn, run_id)
            self._write_params(conn, run_id, rows)

        write_retrying(self._metadata, log)

    def set_tags(self, run_id: str, values: Mapping[str, Any]) -> None:
        rows = text_rows(run_id, values, "tag")

        def log(conn: Connection) -> None:
            self._require(conn, run_id)
            self._write_tags(conn, run_id, rows)

        write_retrying(self._metadata, log)

    def write_metrics(self, batch: Mapping[tuple[str, str], Series]) -> None:
        if not batch:
            return
        for (run_id, key), series in batch.items():
            # Checked once per series: the points were checked where they were logged.
            check_key(run_id, "a run id")
            check_key(key, "a metric key")
            if not len(series.steps) == len(series.stamps) == len(series.values):
                raise InvalidInputError(
                    f"the series {key!r} of run {run_id} has {len(series.steps)} steps, "
                    f"{len(series.stamps)} times and {len(series.values)} values"
                )

        def write(conn: Connection) -> None:
            write_series(self._metadata, conn, without_deleted_runs(conn, dict(batch)))

        write_retrying(self._metadata, write)

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        with self._metadata.read() as conn:
            return read_history(conn, _queries.resolve_run_id(conn, run_id), key)

    def _write_params(self, conn: Connection, run_id: str, rows: list[dict[str, str]]) -> None:
        if not rows:
            return
        self._metadata.insert_ignoring_conflicts(conn, param_table, rows)
        stored = dict(
            conn.execute(
                select(param_table.c.key, param_table.c.value).where(
                    param_table.c.run_id == run_id, param_table.c.key.in_([r["key"] for r in rows])
                )
            ).all()
        )
        for row in rows:
            if stored[row["key"]] != row["value"]:
                raise ConflictError(
                    f"param {row['key']!r} of run {run_id} is {stored[row['key']]!r} and "
                    f"cannot become {row['value']!r}; params are fixed once logged (use a tag "
                    "or a metric for values that change)"
                )
        self._event(conn, "run.params_logged", "run", run_id, keys=[r["key"] for r in rows])

    def _write_tags(self, conn: Connection, run_id: str, rows: list[dict[str, str]]) -> None:
        if not rows:
            return
        self._metadata.upsert(conn, tag_table, rows, keys=("run_id", "key"))
        self._event(conn, "run.tags_set", "run", run_id, keys=[r["key"] for r in rows])

    # -- artifact index --------------------------------------------------------------

    def record_artifacts(
        self, run_id: str, entries: Sequence[tuple[str, str, int]]
    ) -> list[ArtifactRecord]:
        created = now_ms()
        rows: list[dict[str, Any]] = [
            {
                "run_id": run_id,
                "path": validate_artifact_path(path),
                "digest": digest,
                "size": int(size),
                "created_ms": created,
            }
            for path, digest, size in sorted(entries)
        ]

        def record(conn: Connection) -> None:
            self._require(conn, run_id)
            self._metadata.upsert(conn, run_artifacts, rows, keys=("run_id", "path"))
            self._event(
                conn, "run.artifacts_logged", "run", run_id, paths=[p for p, _, _ in entries]
            )

        write_retrying(self._metadata, record)
        return [ArtifactRecord(p, d, s, created) for p, d, s in entries]

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactRecord]:
        if prefix:
            prefix = validate_artifact_path(prefix.rstrip("/"))
        with self._metadata.read() as conn:
            return _queries.artifacts(conn, _queries.resolve_run_id(conn, run_id), prefix)

    def find_artifacts(
        self, run_ids: Sequence[str], suffix: str
    ) -> list[tuple[str, ArtifactRecord]]:
        if not run_ids:
            return []
        with self._metadata.read() as conn:
            return _queries.artifacts_ending_with(conn, run_ids, suffix)

    # -- helpers ---------------------------------------------------------------------

    def _require(self, conn: Connection, run_id: str) -> str:
        """``run_id`` if it is the full id of a stored run: writes take no prefixes."""
        resolved = _queries.resolve_run_id(conn, run_id)
        if resolved != run_id:
            raise NotFoundError(f"no run with id {run_id!r}; give the full 32-character id")
        return resolved

    def _event(
        self, conn: Connection, kind: str, object_type: str, object_id: str, **payload: Any
    ) -> None:
        self._metadata.record_event(conn, kind, object_type, object_id, self._actor, **payload)
