"""TrackingClient: experiments, runs, params, metrics, tags and artifacts in the store."""

from __future__ import annotations

import dataclasses
import os
import uuid
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store import (
    DatasetStore,
    DatasetVersion,
    Lineage,
    Store,
    now_ms,
    open_store,
    validate_artifact_path,
)
from mlpilot.store import _schema as db
from mlpilot.store._inputs import metric_batch, text_rows
from mlpilot.store._validate import (
    check_key,
    check_metric,
    check_status,
    check_step,
    check_text,
)
from mlpilot.store.base._tracking import ArtifactRecord, Experiment, MetricPoint, RunRecord
from mlpilot.store.sql import _queries
from mlpilot.store.sql._liveness import HOST, mark_dead_runs
from mlpilot.store.sql._metrics import unpack_chunk, write_series
from mlpilot.tracking import _models
from mlpilot.tracking._run import Run
from mlpilot.tracking._writer import MetricWriter

DEFAULT_EXPERIMENT = "Default"

_writers: weakref.WeakKeyDictionary[Store, MetricWriter] = weakref.WeakKeyDictionary()
_swept: weakref.WeakSet[Store] = weakref.WeakSet()


class TrackingClient:
    """Records and queries experiments and runs.

    Args:
        store: An open :class:`~mlpilot.store.Store`; by default the one the settings
            name (``MLPILOT_HOME``, ``MLPILOT_STORE_URI``, ``MLPILOT_ARTIFACTS_URI``).
        store_uri, artifacts_uri, home: Override those settings.

    Example::

        client = TrackingClient()
        with client.create_run(experiment="churn") as run:
            run.log_param("C", 0.5)
            run.log_metric("auc", 0.91)
        client.search_runs(experiment="churn", filter="metrics.auc > 0.9")
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        store_uri: str | None = None,
        artifacts_uri: str | None = None,
        home: str | os.PathLike[str] | None = None,
    ) -> None:
        self.store = store or open_store(
            store_uri=store_uri, artifacts_uri=artifacts_uri, home=home
        )
        self.settings = self.store.settings
        self._metadata = self.store.metadata
        self._artifacts = self.store.artifacts
        if self.store not in _writers:
            writer = _writers[self.store] = MetricWriter(
                self._metadata,
                flush_interval_s=self.settings.flush_interval_s,
                heartbeat_interval_s=self.settings.heartbeat_interval_s,
            )
            self.store.on_close(writer.stop)
        self._writer = _writers[self.store]
        #: The store's versioned datasets.
        self.datasets = DatasetStore(self.store)
        if self.store not in _swept:
            _swept.add(self.store)
            self.mark_dead_runs()

    # -- experiments ---------------------------------------------------------------

    def create_experiment(self, name: str, description: str = "") -> int:
        """Create an experiment and return its id; raises ConflictError if it exists."""
        check_key(name, "experiment name")
        try:
            with self._metadata.write() as conn:
                if conn.execute(
                    select(db.experiments.c.id).where(db.experiments.c.name == name)
                ).first():
                    raise ConflictError(f"experiment {name!r} exists already")
                experiment_id = self._insert_experiment(conn, name, description)
        except IntegrityError:  # created by another process since the check (PostgreSQL)
            raise ConflictError(f"experiment {name!r} exists already") from None
        return experiment_id

    def get_or_create_experiment(self, name: str) -> int:
        """The id of experiment ``name``, creating it if needed (safe across processes)."""
        check_key(name, "experiment name")
        with self._metadata.read() as conn:
            found = conn.execute(
                select(db.experiments.c.id).where(db.experiments.c.name == name)
            ).scalar()
        if found is not None:
            return int(found)
        try:
            with self._metadata.write() as conn:
                found = conn.execute(
                    select(db.experiments.c.id).where(db.experiments.c.name == name)
                ).scalar()
                return int(found) if found is not None else self._insert_experiment(conn, name, "")
        except IntegrityError:
            # PostgreSQL does not serialise the check and the insert: another process
            # created the experiment in between, so it exists now.
            with self._metadata.read() as conn:
                found = conn.execute(
                    select(db.experiments.c.id).where(db.experiments.c.name == name)
                ).scalar()
            if found is None:
                raise
            return int(found)

    def get_experiment(self, name_or_id: str | int) -> Experiment:
        for experiment in self.list_experiments():
            if name_or_id in (experiment.name, experiment.id, str(experiment.id)):
                return experiment
        raise NotFoundError(
            f"no experiment {name_or_id!r}; list them with `mlpilot experiments list`"
        )

    def list_experiments(self) -> list[Experiment]:
        counts = (
            select(db.runs.c.experiment_id, func.count().label("n"))
            .group_by(db.runs.c.experiment_id)
            .subquery()
        )
        query = (
            select(db.experiments, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.experiment_id == db.experiments.c.id)
            .order_by(db.experiments.c.id)
        )
        with self._metadata.read() as conn:
            return [Experiment(*row) for row in conn.execute(query)]

    def _insert_experiment(self, conn: Connection, name: str, description: str) -> int:
        check_text("description", description, "experiment")
        inserted = conn.execute(
            insert(db.experiments).values(name=name, description=description, created_ms=now_ms())
        )
        experiment_id = inserted.inserted_primary_key[0]  # type: ignore[index]
        self._metadata.record_event(
            conn,
            "experiment.created",
            "experiment",
            str(experiment_id),
            self.settings.user,
            name=name,
        )
        return int(experiment_id)

    # -- runs ----------------------------------------------------------------------

    def create_run(
        self,
        experiment: str | None = None,
        name: str | None = None,
        *,
        parent_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> Run:
        """Start a run and return a handle that logs to it; use it as a context manager."""
        experiment_id = self.get_or_create_experiment(experiment or DEFAULT_EXPERIMENT)
        run_id = uuid.uuid4().hex
        name = check_key(name, "run name") if name is not None else f"run-{run_id[:8]}"
        param_rows = text_rows(run_id, params or {}, "param")
        tag_rows = text_rows(run_id, tags or {}, "tag")
        start = now_ms()
        with self._metadata.write() as conn:
            if parent_id is not None:
                parent_id = self._resolve(conn, parent_id)
            conn.execute(
                insert(db.runs).values(
                    id=run_id,
                    experiment_id=experiment_id,
                    name=name,
                    status="running",
                    parent_id=parent_id,
                    user=self.settings.user,
                    host=HOST,
                    pid=os.getpid(),
                    start_ms=start,
                    heartbeat_ms=start,
                )
            )
            if param_rows:
                conn.execute(insert(db.params), param_rows)
            if tag_rows:
                conn.execute(insert(db.tags), tag_rows)
            self._metadata.record_event(
                conn,
                "run.started",
                "run",
                run_id,
                self.settings.user,
                experiment=experiment or DEFAULT_EXPERIMENT,
                name=name,
                parent_id=parent_id,
            )
        self._writer.watch(run_id)
        return Run(self, run_id, name, experiment or DEFAULT_EXPERIMENT)

    def reopen_run(self, run_id: str) -> Run:
        """Mark an ended run as running again in this process, and return its handle.

        For work that resumes where an earlier process stopped (a pipeline run whose
        driver was killed); the run keeps its id, params, metrics and artifacts.
        """
        with self._metadata.write() as conn:
            run_id = self._resolve(conn, run_id)
            row = conn.execute(
                select(db.runs.c.name, db.runs.c.status, db.experiments.c.name)
                .join(db.experiments, db.experiments.c.id == db.runs.c.experiment_id)
                .where(db.runs.c.id == run_id)
            ).one()
            now = now_ms()
            # One conditional update, so that of two processes reopening the run at once
            # exactly one gets it (on PostgreSQL too, where the read above does not lock).
            changed = conn.execute(
                update(db.runs)
                .where(db.runs.c.id == run_id, db.runs.c.status != "running")
                .values(status="running", end_ms=None, host=HOST, pid=os.getpid(), heartbeat_ms=now)
            ).rowcount
            if not changed:
                raise ConflictError(f"run {run_id} is running already")
            self._metadata.record_event(
                conn, "run.resumed", "run", run_id, self.settings.user, previous=row[1]
            )
        self._writer.watch(run_id)
        return Run(self, run_id, row[0], row[2])

    def end_run(self, run_id: str, status: str = "finished") -> None:
        """Write the run's buffered metrics and record how it ended."""
        check_status(status)
        self._writer.flush()
        self._writer.unwatch(run_id)
        with self._metadata.write() as conn:
            run_id = self._resolve(conn, run_id)
            previous = conn.execute(select(db.runs.c.status).where(db.runs.c.id == run_id)).scalar()
            conn.execute(
                update(db.runs).where(db.runs.c.id == run_id).values(status=status, end_ms=now_ms())
            )
            self._metadata.record_event(
                conn, f"run.{status}", "run", run_id, self.settings.user, previous=previous
            )

    def keep_alive(self, run_id: str, alive: bool = True) -> None:
        """Beat the heartbeat of ``run_id`` (or stop), for a run that this process
        writes through records of its own, such as a study's trials."""
        if alive:
            self._writer.watch(run_id)
        else:
            self._writer.unwatch(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        """The stored run with this id (or unique id prefix of at least 6 characters)."""
        with self._metadata.read() as conn:
            return _queries.fetch_runs(conn, [self._resolve(conn, run_id)])[0]

    def resolve_run_id(self, run_id: str) -> str:
        with self._metadata.read() as conn:
            return self._resolve(conn, run_id)

    def search_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs matching ``filter`` (see :mod:`mlpilot.store.sql._search` for the syntax).

        Args:
            experiment: An experiment name or several; all experiments by default.
            filter: e.g. ``"metrics.acc > 0.9 and params.model = 'gbm'"``.
            order_by: e.g. ``["metrics.acc DESC", "start_ms"]``; newest first by default.
            max_results, offset: The page to return.

        Raises:
            FilterError: The filter or ordering cannot be read; the message says where.
        """
        if max_results < 0 or offset < 0:
            raise InvalidInputError("max_results and offset must be >= 0")
        names = [experiment] if isinstance(experiment, str) else list(experiment or [])
        with self._metadata.read() as conn:
            return _queries.search(conn, names, filter, list(order_by), max_results, offset)

    def delete_run(self, run_id: str, *, force: bool = False, recursive: bool = False) -> int:
        """Delete a run with its params, metrics, tags and artifact references.

        Returns the number of runs deleted. Blobs stay until ``mlpilot gc``.

        Raises:
            ConflictError: The run is running (pass ``force``) or has child runs
                (pass ``recursive`` to delete them too).
        """
        with self._metadata.write() as conn:
            run_id = self._resolve(conn, run_id)
            subtree = _queries.descendants(conn, run_id)
            running = conn.execute(
                select(func.count()).where(db.runs.c.id.in_(subtree), db.runs.c.status == "running")
            ).scalar()
            if running and not force:
                raise ConflictError(
                    f"run {run_id} (or a child) is still running; end it first or pass force"
                )
            if len(subtree) > 1 and not recursive:
                raise ConflictError(
                    f"run {run_id} has {len(subtree) - 1} child run(s); delete them too "
                    "with recursive=True (`--recursive`)"
                )
            for descendant in subtree:
                self._writer.discard(descendant)
            conn.execute(delete(db.runs).where(db.runs.c.id.in_(subtree)))
            self._metadata.record_event(
                conn, "run.deleted", "run", run_id, self.settings.user, runs_deleted=len(subtree)
            )
        return len(subtree)

    def mark_dead_runs(self) -> list[str]:
        """Mark failed the runs whose process died; returns their ids."""
        return mark_dead_runs(self._metadata, self.settings.heartbeat_timeout_s)

    # -- params, metrics, tags -----------------------------------------------------

    def log_metric(
        self, run_id: str, key: str, value: float, step: int = 0, timestamp_ms: int | None = None
    ) -> None:
        """Buffer one point; it is written within ``flush_interval_s`` or at run end."""
        self._writer.add(
            run_id,
            check_key(key, "metric key"),
            check_step(key, step),
            now_ms() if timestamp_ms is None else int(timestamp_ms),
            check_metric(key, value),
        )

    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Sequence[Any]] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Write metrics, params and tags at once, in one transaction: all or nothing.

        Args:
            metrics: ``(key, value, step)`` or ``(key, value, step, timestamp_ms)`` tuples.
        """
        batch = metric_batch(run_id, metrics)
        with self._metadata.write() as conn:
            self._require(conn, run_id)
            if params:
                self._write_params(conn, run_id, params)
            if tags:
                self._write_tags(conn, run_id, tags)
            write_series(self._metadata, conn, batch)

    def log_params(self, run_id: str, values: Mapping[str, Any]) -> None:
        """Record params; a param keeps its first value (a different one is a ConflictError)."""
        with self._metadata.write() as conn:
            self._require(conn, run_id)
            self._write_params(conn, run_id, values)

    def set_tags(self, run_id: str, values: Mapping[str, Any]) -> None:
        """Set tags, replacing earlier values of the same keys."""
        with self._metadata.write() as conn:
            self._require(conn, run_id)
            self._write_tags(conn, run_id, values)

    def get_metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every point logged for ``key``, by step then time."""
        self._writer.flush()
        chunks = db.metric_chunks
        with self._metadata.read() as conn:
            run_id = self._resolve(conn, run_id)
            rows = conn.execute(
                select(chunks.c.steps, chunks.c.timestamps, chunks.c["values"])
                .where(chunks.c.run_id == run_id, chunks.c.key == key)
                .order_by(chunks.c.first_step, chunks.c.id)
            ).all()
        if not rows:
            return []
        steps, stamps, values = (
            np.concatenate(a) for a in zip(*(unpack_chunk(*r) for r in rows), strict=True)
        )
        order = np.lexsort((stamps, steps))
        return [
            MetricPoint(int(s), int(t), float(v))
            for s, t, v in zip(steps[order], stamps[order], values[order], strict=True)
        ]

    def flush(self) -> None:
        """Write buffered metric points now."""
        self._writer.flush()

    def _write_params(self, conn: Connection, run_id: str, values: Mapping[str, Any]) -> None:
        rows = text_rows(run_id, values, "param")
        self._metadata.insert_ignoring_conflicts(conn, db.params, rows)
        stored = dict(
            conn.execute(
                select(db.params.c.key, db.params.c.value).where(
                    db.params.c.run_id == run_id, db.params.c.key.in_([r["key"] for r in rows])
                )
            ).all()
        )
        changed = {
            r["key"]: (stored[r["key"]], r["value"]) for r in rows if stored[r["key"]] != r["value"]
        }
        if changed:
            key, (old, new) = next(iter(changed.items()))
            raise ConflictError(
                f"param {key!r} of run {run_id} is {old!r} and cannot become {new!r}; "
                "params are fixed once logged (use a tag or a metric for values that change)"
            )
        self._metadata.record_event(
            conn, "run.params_logged", "run", run_id, self.settings.user, keys=sorted(values)
        )

    def _write_tags(self, conn: Connection, run_id: str, values: Mapping[str, Any]) -> None:
        self._metadata.upsert(
            conn, db.tags, text_rows(run_id, values, "tag"), keys=("run_id", "key")
        )
        self._metadata.record_event(
            conn, "run.tags_set", "run", run_id, self.settings.user, keys=sorted(values)
        )

    # -- artifacts -----------------------------------------------------------------

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactRecord]:
        """Store a file, or every file under a folder, as artifacts of the run.

        Args:
            artifact_path: The path inside the run; by default the file or folder name.
        """
        source = Path(local_path)
        prefix = validate_artifact_path(artifact_path or source.name)
        if source.is_dir():
            files = sorted(p for p in source.rglob("*") if p.is_file())
            pairs = [(f, f"{prefix}/{f.relative_to(source).as_posix()}") for f in files]
        else:
            pairs = [(source, prefix)]
        for _, path in pairs:
            validate_artifact_path(path)
        stored = [(path, self._artifacts.put_file(file)) for file, path in pairs]
        return self._record_artifacts(run_id, [(path, b.digest, b.size) for path, b in stored])

    def log_blobs(self, run_id: str, files: Mapping[str, bytes]) -> list[ArtifactRecord]:
        """Store each ``{artifact_path: bytes}`` entry; all are recorded in one transaction."""
        entries = []
        for artifact_path, data in files.items():
            path = validate_artifact_path(artifact_path)
            if not isinstance(data, bytes | bytearray | memoryview):
                raise InvalidInputError(
                    f"artifact {path!r} must be bytes, got {type(data).__name__}"
                )
            blob = self._artifacts.put_bytes(bytes(data))
            entries.append((path, blob.digest, blob.size))
        return self._record_artifacts(run_id, entries)

    def log_model(
        self,
        run_id: str,
        model: Any,
        name: str = "model",
        *,
        input_example: Any = None,
        classes: Sequence[Any] | None = None,
    ) -> list[ArtifactRecord]:
        """Store a fitted model in a safe format (see :meth:`Run.log_model`)."""
        return _models.log_model(
            self, run_id, model, name, input_example=input_example, classes=classes
        )

    def load_model(self, run_id: str, name: str = "model") -> Any:
        """Load a model stored with ``log_model``, after verifying its bytes."""
        return _models.load_model(self, run_id, name)

    def list_models(self, run_id: str) -> list[str]:
        """The names of the models ``log_model`` stored in run ``run_id``."""
        with self._metadata.read() as conn:
            run_id = self._resolve(conn, run_id)
        return [model for _, model in self._models_of([run_id])]

    def _models_of(self, run_ids: Sequence[str]) -> list[tuple[str, str]]:
        """``(run_id, model name)`` of every model the runs logged, in one query."""
        if not run_ids:
            return []
        suffix = f"/{_models.META_FILE}"
        with self._metadata.read() as conn:
            rows = conn.execute(
                select(db.run_artifacts.c.run_id, db.run_artifacts.c.path)
                .where(
                    db.run_artifacts.c.run_id.in_(run_ids),
                    db.run_artifacts.c.path.endswith(suffix, autoescape=True),
                )
                .order_by(db.run_artifacts.c.path)
            ).all()
        order = {run_id: index for index, run_id in enumerate(run_ids)}
        return sorted(
            ((run_id, path.removesuffix(suffix)) for run_id, path in rows),
            key=lambda item: order[item[0]],
        )

    # -- datasets ------------------------------------------------------------------

    def dataset_lineage(self, ref: str | DatasetVersion) -> Lineage:
        """What produced a dataset version, what used it, and the models those runs logged."""
        lineage = self.datasets.lineage(ref)
        models = self._models_of([link.run_id for link in lineage.used_by])
        return dataclasses.replace(lineage, models=models)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactRecord]:
        with self._metadata.read() as conn:
            run_id = self._resolve(conn, run_id)
            query = select(
                db.run_artifacts.c.path,
                db.run_artifacts.c.digest,
                db.run_artifacts.c.size,
                db.run_artifacts.c.created_ms,
            ).where(db.run_artifacts.c.run_id == run_id)
            if prefix:
                prefix = validate_artifact_path(prefix.rstrip("/"))
                query = query.where(
                    db.run_artifacts.c.path.startswith(prefix + "/", autoescape=True)
                    | (db.run_artifacts.c.path == prefix)
                )
            return [
                ArtifactRecord(*row)
                for row in conn.execute(query.order_by(db.run_artifacts.c.path))
            ]

    def read_artifact(self, run_id: str, artifact_path: str) -> bytes:
        """The artifact's bytes, verified against their digest."""
        return self._artifacts.get_bytes(self._artifact(run_id, artifact_path).digest)

    def download_artifact(
        self, run_id: str, artifact_path: str, dest: str | os.PathLike[str]
    ) -> Path:
        """Copy an artifact to the local file ``dest``, verified; returns ``dest``."""
        return self._artifacts.get_file(self._artifact(run_id, artifact_path).digest, dest)

    def _artifact(self, run_id: str, artifact_path: str) -> ArtifactRecord:
        path = validate_artifact_path(artifact_path)
        for record in self.list_artifacts(run_id, path):
            if record.path == path:
                return record
        raise NotFoundError(
            f"run {run_id} has no artifact {path!r}; "
            f"list them with `mlpilot artifacts list {run_id}`"
        )

    def _record_artifacts(
        self, run_id: str, entries: list[tuple[str, str, int]]
    ) -> list[ArtifactRecord]:
        created = now_ms()
        with self._metadata.write() as conn:
            run_id = self._require(conn, run_id)
            rows = [
                {"run_id": run_id, "path": p, "digest": d, "size": s, "created_ms": created}
                for p, d, s in entries
            ]
            self._metadata.upsert(conn, db.run_artifacts, rows, keys=("run_id", "path"))
            self._metadata.record_event(
                conn,
                "run.artifacts_logged",
                "run",
                run_id,
                self.settings.user,
                paths=[p for p, _, _ in entries],
            )
        return [ArtifactRecord(p, d, s, created) for p, d, s in entries]

    # -- helpers -------------------------------------------------------------------

    def _resolve(self, conn: Connection, run_id: str) -> str:
        return _queries.resolve_run_id(conn, run_id)

    def _require(self, conn: Connection, run_id: str) -> str:
        resolved = self._resolve(conn, run_id)
        if resolved != run_id:
            raise NotFoundError(f"no run with id {run_id!r}; give the full 32-character id")
        return resolved
