"""TrackingClient: experiments, runs, params, metrics, tags and artifacts in the store."""

from __future__ import annotations

import dataclasses
import functools
import os
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.store._artifacts import validate_artifact_path
from mlpilot.store._metadata import now_ms
from mlpilot.store._store import Store, open_store
from mlpilot.store._validate import check_key, check_metric, check_step
from mlpilot.store.base._tracking import ArtifactRecord, Experiment, MetricPoint, RunRecord
from mlpilot.tracking import _models
from mlpilot.tracking._run import Run
from mlpilot.tracking._writer import MetricWriter

if TYPE_CHECKING:
    from mlpilot.store._datasets import DatasetStore
    from mlpilot.store.base._datasets import DatasetVersion, Lineage

DEFAULT_EXPERIMENT = "Default"

_writers: weakref.WeakKeyDictionary[Store, MetricWriter] = weakref.WeakKeyDictionary()
_swept: weakref.WeakSet[Store] = weakref.WeakSet()


class TrackingClient:
    """Records and queries experiments and runs.

    Args:
        store: An open :class:`~mlpilot.store.Store`, or a metadata store URI such as
            ``"sqlite:///mlpilot.db"`` (artifacts then go where the settings say); by
            default the store the settings name (``MLPILOT_HOME``,
            ``MLPILOT_STORE_URI``, ``MLPILOT_ARTIFACTS_URI``).
        store_uri, artifacts_uri, home: Override those settings.

    Raises:
        InvalidInputError: ``store`` is neither a Store nor a URI string, or a URI is
            given twice.

    Example::

        client = TrackingClient("sqlite:///mlpilot.db")
        with client.create_run(experiment="churn") as run:
            run.log_param("C", 0.5)
            run.log_metric("auc", 0.91)
        client.search_runs(experiment="churn", filter="metrics.auc > 0.9")
    """

    def __init__(
        self,
        store: Store | str | None = None,
        *,
        store_uri: str | None = None,
        artifacts_uri: str | None = None,
        home: str | os.PathLike[str] | None = None,
    ) -> None:
        if isinstance(store, str):
            if store_uri is not None:
                raise InvalidInputError(
                    "give the store URI once: as the first argument or as store_uri="
                )
            store, store_uri = None, store
        elif store is not None and not isinstance(store, Store):
            raise InvalidInputError(
                "TrackingClient takes a Store or a store URI string such as "
                f"'sqlite:///mlpilot.db', got {type(store).__name__}: {store!r}"
            )
        self.store = store or open_store(
            store_uri=store_uri, artifacts_uri=artifacts_uri, home=home
        )
        self.settings = self.store.settings
        self._records = self.store.tracking
        if self.store not in _writers:
            writer = _writers[self.store] = MetricWriter(
                self._records,
                flush_interval_s=self.settings.flush_interval_s,
                heartbeat_interval_s=self.settings.heartbeat_interval_s,
            )
            self.store.on_close(writer.stop)
        self._writer = _writers[self.store]
        if self.store not in _swept:
            _swept.add(self.store)
            self.mark_dead_runs()

    @functools.cached_property
    def datasets(self) -> DatasetStore:
        """The store's versioned datasets (pandas and pyarrow load on first use)."""
        from mlpilot.store._datasets import DatasetStore

        return DatasetStore(self.store)

    # -- experiments ---------------------------------------------------------------

    def create_experiment(self, name: str, description: str = "") -> int:
        """Create an experiment and return its id; raises ConflictError if it exists."""
        return self._records.create_experiment(name, description)

    def get_or_create_experiment(self, name: str) -> int:
        """The id of experiment ``name``, creating it if needed (safe across processes)."""
        return self._records.get_or_create_experiment(name)

    def get_experiment(self, name_or_id: str | int) -> Experiment:
        for experiment in self.list_experiments():
            if name_or_id in (experiment.name, experiment.id, str(experiment.id)):
                return experiment
        raise NotFoundError(
            f"no experiment {name_or_id!r}; list them with `mlpilot experiments list`"
        )

    def list_experiments(self) -> list[Experiment]:
        return self._records.list_experiments()

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
        experiment = experiment or DEFAULT_EXPERIMENT
        record = self._records.create_run(
            experiment, name, parent_id=parent_id, params=params, tags=tags
        )
        self._writer.watch(record.id)
        return Run(self, record.id, record.name, experiment)

    def reopen_run(self, run_id: str) -> Run:
        """Mark an ended run as running again in this process, and return its handle.

        For work that resumes where an earlier process stopped (a pipeline run whose
        driver was killed); the run keeps its id, params, metrics and artifacts.

        Raises:
            ConflictError: The run is running already.
        """
        record = self._records.reopen_run(run_id)
        self._writer.watch(record.id)
        return Run(self, record.id, record.name, record.experiment)

    def end_run(self, run_id: str, status: str = "finished") -> None:
        """Write the run's buffered metrics and record how it ended."""
        self._writer.flush()
        self._writer.unwatch(run_id)
        self._records.end_run(run_id, status)

    def keep_alive(self, run_id: str, alive: bool = True) -> None:
        """Beat the heartbeat of ``run_id`` (or stop), for a run that this process
        writes through records of its own, such as a study's trials."""
        if alive:
            self._writer.watch(run_id)
        else:
            self._writer.unwatch(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        """The stored run with this id (or unique id prefix of at least 6 characters)."""
        return self._records.get_run(run_id)

    def resolve_run_id(self, run_id: str) -> str:
        """The full id of the run named by ``run_id`` or a unique prefix of it."""
        return self._records.resolve_run_id(run_id)

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
            order_by: ``"FIELD [ASC|DESC]"`` clauses, e.g. ``["metrics.acc DESC",
                "start_ms"]``. The direction may also be written ``ASCENDING`` or
                ``DESCENDING``, in any case; keys with spaces go in backticks
                (``"metrics.`val loss` ASC"``). Runs that lack a field come last
                either way; ties, and the default order, go newest first.
            max_results, offset: The page to return.

        Warns:
            OrderKeyWarning: No matching run has a metric, param or tag that
                ``order_by`` names (a misspelt key orders nothing).

        Raises:
            FilterError: The filter or ordering cannot be read, or names an unknown
                direction; the message says where.
            NotFoundError: An experiment does not exist.
        """
        names = [experiment] if isinstance(experiment, str) else list(experiment or [])
        return self._records.search_runs(names, filter, order_by, max_results, offset)

    def delete_run(self, run_id: str, *, force: bool = False, recursive: bool = False) -> int:
        """Delete a run with its params, metrics, tags and artifact references.

        Returns the number of runs deleted. Blobs stay until ``mlpilot gc``.

        Raises:
            ConflictError: The run is running (pass ``force``) or has child runs
                (pass ``recursive`` to delete them too).
        """
        deleted = self._records.delete_run(run_id, force=force, recursive=recursive)
        for descendant in deleted:
            self._writer.discard(descendant)
        return len(deleted)

    def mark_dead_runs(self) -> list[str]:
        """Mark failed the runs whose process died; returns their ids."""
        return self._records.mark_dead_runs(self.settings.heartbeat_timeout_s)

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
        self._records.log_batch(run_id, metrics, params, tags)

    def log_params(self, run_id: str, values: Mapping[str, Any]) -> None:
        """Record params; a param keeps its first value (a different one is a ConflictError)."""
        self._records.log_params(run_id, values)

    def set_tags(self, run_id: str, values: Mapping[str, Any]) -> None:
        """Set tags, replacing earlier values of the same keys."""
        self._records.set_tags(run_id, values)

    def get_metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every point logged for ``key``, by step then time."""
        self._writer.flush()
        return self._records.metric_history(run_id, key)

    def flush(self) -> None:
        """Write buffered metric points now."""
        self._writer.flush()

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
        stored = [(path, self.store.artifacts.put_file(file)) for file, path in pairs]
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
            blob = self.store.artifacts.put_bytes(bytes(data))
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
        run_id = self.resolve_run_id(run_id)
        return [model for _, model in self._models_of([run_id])]

    def _models_of(self, run_ids: Sequence[str]) -> list[tuple[str, str]]:
        """``(run_id, model name)`` of every model the runs logged, in one query."""
        suffix = f"/{_models.META_FILE}"
        return [
            (run_id, record.path.removesuffix(suffix))
            for run_id, record in self._records.find_artifacts(run_ids, suffix)
        ]

    # -- datasets ------------------------------------------------------------------

    def dataset_lineage(self, ref: str | DatasetVersion) -> Lineage:
        """What produced a dataset version, what used it, and the models those runs logged."""
        lineage = self.datasets.lineage(ref)
        models = self._models_of([link.run_id for link in lineage.used_by])
        return dataclasses.replace(lineage, models=models)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactRecord]:
        """The run's artifacts at ``prefix`` or under the folder it names, by path."""
        return self._records.list_artifacts(run_id, prefix)

    def read_artifact(self, run_id: str, artifact_path: str) -> bytes:
        """The artifact's bytes, verified against their digest."""
        return self.store.artifacts.get_bytes(self._artifact(run_id, artifact_path).digest)

    def download_artifact(
        self, run_id: str, artifact_path: str, dest: str | os.PathLike[str]
    ) -> Path:
        """Copy an artifact to the local file ``dest``, verified; returns ``dest``."""
        return self.store.artifacts.get_file(self._artifact(run_id, artifact_path).digest, dest)

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
        return self._records.record_artifacts(run_id, entries)
