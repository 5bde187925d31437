"""Read queries over runs: id lookup, search with hydration, and run trees."""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, exists, select

from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.store._schema import experiments, latest_metrics, params, run_artifacts, runs, tags
from mlpilot.store.base._tracking import ArtifactRecord, OrderKeyWarning, RunRecord
from mlpilot.store.sql._search import apply_order, compile_filter, parse_order

_MIN_PREFIX = 6
# Ids per IN (...) list: far under every backend's limit on bound parameters.
_CHUNK = 500


def resolve_run_id(conn: Connection, run_id: str) -> str:
    """The full id of the run named by ``run_id`` or a unique prefix of it."""
    if not isinstance(run_id, str) or not run_id.isalnum() or len(run_id) > 32:
        raise InvalidInputError(f"{run_id!r} is not a run id (32 hex characters, or a prefix)")
    run_id = run_id.lower()
    if len(run_id) == 32:
        found = conn.execute(select(runs.c.id).where(runs.c.id == run_id)).scalars().all()
    elif len(run_id) >= _MIN_PREFIX:
        found = (
            conn.execute(select(runs.c.id).where(runs.c.id.startswith(run_id)).limit(2))
            .scalars()
            .all()
        )
    else:
        raise InvalidInputError(
            f"run id prefix {run_id!r} is too short; give at least {_MIN_PREFIX} characters"
        )
    if not found:
        raise NotFoundError(f"no run with id {run_id!r}; list runs with `mlpilot runs list`")
    if len(found) > 1:
        raise InvalidInputError(
            f"run id prefix {run_id!r} matches several runs; give more characters"
        )
    return str(found[0])


def search(
    conn: Connection,
    experiment_names: Sequence[str],
    filter_text: str | None,
    order_by: list[str],
    limit: int,
    offset: int,
) -> list[RunRecord]:
    query = select(runs.c.id)
    if experiment_names:
        known = dict(conn.execute(select(experiments.c.name, experiments.c.id)).all())
        missing = [name for name in experiment_names if name not in known]
        if missing:
            raise NotFoundError(
                f"no experiment named {missing[0]!r}; list them with `mlpilot experiments list`"
            )
        query = query.where(runs.c.experiment_id.in_([known[n] for n in experiment_names]))
    if filter_text is not None and filter_text.strip():
        query = query.where(compile_filter(filter_text))
    ordered = apply_order(query, order_by).limit(limit).offset(offset)
    found = fetch_runs(conn, list(conn.execute(ordered).scalars()))
    _warn_of_missing_order_keys(conn, query, order_by, found, offset)
    return found


def _warn_of_missing_order_keys(
    conn: Connection,
    matching: Select[Any],
    order_by: Sequence[str],
    page: list[RunRecord],
    offset: int,
) -> None:
    """Warn of each metric, param or tag ordered by that no matching run has: most
    likely a misspelt key, and the ordering then does nothing."""
    if not page:
        return  # nothing matched, or the page is past the end: there is nothing to order
    for clause in order_by:
        field, _ = parse_order(clause)
        if field.kind == "attribute":
            continue
        if any(field.key in getattr(run, field.kind) for run in page):
            continue
        # Runs without the key sort last, so a first page without it proves no run has it.
        if offset:
            table = {"metrics": latest_metrics, "params": params, "tags": tags}[field.kind]
            held = exists(
                select(table.c.run_id).where(table.c.key == field.key, table.c.run_id.in_(matching))
            )
            if conn.execute(select(held)).scalar():
                continue
        warnings.warn(
            f"no matching run has {field.kind}.{field.key}, so ordering by it changes "
            "nothing; check the key's spelling",
            OrderKeyWarning,
            stacklevel=2,
        )


def fetch_runs(conn: Connection, run_ids: Sequence[str]) -> list[RunRecord]:
    """Full records for ``run_ids``, in that order: four queries, whatever the count."""
    rows: dict[str, Any] = {}
    found: dict[str, defaultdict[str, dict[str, Any]]] = {
        kind: defaultdict(dict) for kind in ("params", "metrics", "tags")
    }
    for start in range(0, len(run_ids), _CHUNK):
        chunk = run_ids[start : start + _CHUNK]
        query = (
            select(runs, experiments.c.name.label("experiment"))
            .join(experiments, experiments.c.id == runs.c.experiment_id)
            .where(runs.c.id.in_(chunk))
        )
        rows.update((row.id, row) for row in conn.execute(query).all())
        for kind, table in (("params", params), ("metrics", latest_metrics), ("tags", tags)):
            by_run = found[kind]
            query = select(table.c.run_id, table.c.key, table.c.value)
            for run_id, key, value in conn.execute(query.where(table.c.run_id.in_(chunk))).all():
                by_run[run_id][key] = value
    return [
        RunRecord(
            id=row.id,
            experiment_id=row.experiment_id,
            experiment=row.experiment,
            name=row.name,
            status=row.status,
            parent_id=row.parent_id,
            user=row.user,
            host=row.host,
            pid=row.pid,
            start_ms=row.start_ms,
            end_ms=row.end_ms,
            heartbeat_ms=row.heartbeat_ms,
            params=found["params"].get(row.id, {}),
            metrics=found["metrics"].get(row.id, {}),
            tags=found["tags"].get(row.id, {}),
        )
        for row in (rows[run_id] for run_id in run_ids if run_id in rows)
    ]


def descendants(conn: Connection, run_id: str) -> list[str]:
    """``run_id`` and every run below it, parents before children."""
    found, frontier = [run_id], [run_id]
    while frontier:
        frontier = list(
            conn.execute(select(runs.c.id).where(runs.c.parent_id.in_(frontier))).scalars()
        )
        found.extend(frontier)
    return found


_ARTIFACT_COLUMNS = (
    run_artifacts.c.path,
    run_artifacts.c.digest,
    run_artifacts.c.size,
    run_artifacts.c.created_ms,
)


def artifacts(conn: Connection, run_id: str, prefix: str = "") -> list[ArtifactRecord]:
    """The run's artifacts at path ``prefix`` or under the folder it names, by path."""
    query = select(*_ARTIFACT_COLUMNS).where(run_artifacts.c.run_id == run_id)
    if prefix:
        query = query.where(
            run_artifacts.c.path.startswith(prefix + "/", autoescape=True)
            | (run_artifacts.c.path == prefix)
        )
    return [ArtifactRecord(*row) for row in conn.execute(query.order_by(run_artifacts.c.path))]


def artifacts_ending_with(
    conn: Connection, run_ids: Sequence[str], suffix: str
) -> list[tuple[str, ArtifactRecord]]:
    """``(run_id, artifact)`` of the runs' artifacts whose path ends with ``suffix``, in
    the order of ``run_ids``, then by path."""
    order = {run_id: index for index, run_id in enumerate(run_ids)}
    found: list[tuple[str, ArtifactRecord]] = []
    for start in range(0, len(run_ids), _CHUNK):
        rows = conn.execute(
            select(run_artifacts.c.run_id, *_ARTIFACT_COLUMNS)
            .where(
                run_artifacts.c.run_id.in_(list(run_ids[start : start + _CHUNK])),
                run_artifacts.c.path.endswith(suffix, autoescape=True),
            )
            .order_by(run_artifacts.c.path)
        ).all()
        found.extend((row[0], ArtifactRecord(*row[1:])) for row in rows)
    return sorted(found, key=lambda item: order[item[0]])
