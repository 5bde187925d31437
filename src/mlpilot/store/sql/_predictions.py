"""The prediction log in SQL: the ``predictions`` and ``prediction_labels`` tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import and_, insert, select
from sqlalchemy.exc import SQLAlchemyError

from mlpilot.errors import InvalidInputError, StoreError
from mlpilot.store._metadata import MetadataStore, now_ms
from mlpilot.store._predictions import FIXED_COLUMNS, check_integer
from mlpilot.store._schema import prediction_labels, predictions
from mlpilot.store.base._predictions import (
    PredictionRow,
    check_read,
    check_rows,
    label_rows,
    prediction_frame,
)

# Request ids looked up per query when checking labels (within every backend's limit).
_LOOKUP_CHUNK = 500


class SqlPredictionRecords:
    """:class:`~mlpilot.store.base.PredictionRecords` over the metadata database.

    Args:
        metadata: The database.
        actor: Who the events of writes name (the settings' user).
    """

    def __init__(self, metadata: MetadataStore, actor: str) -> None:
        self._metadata = metadata
        self._actor = actor

    def write(self, rows: Sequence[PredictionRow]) -> int:
        check_rows(rows)
        if not rows:
            return 0
        try:
            with self._metadata.write() as conn:
                conn.execute(insert(predictions), list(rows))
        except SQLAlchemyError as exc:  # a constraint the checks above could not see
            raise StoreError(f"metadata store write failed: {exc}") from exc
        return len(rows)

    def read(
        self,
        model: str,
        *,
        version: int | None = None,
        roles: Sequence[str] = ("primary", "canary"),
        since_ms: int | None = None,
        until_ms: int | None = None,
        last: int | None = None,
        labels: bool = False,
    ) -> pd.DataFrame:
        check_read(roles, last)
        p = predictions
        columns = [p.c[name] for name in FIXED_COLUMNS] + [p.c.features]
        source: Any = p
        if labels:
            columns.append(prediction_labels.c.label)
            source = p.outerjoin(
                prediction_labels,
                and_(
                    prediction_labels.c.request_id == p.c.request_id,
                    prediction_labels.c.row == p.c.row,
                ),
            )
        query = (
            select(*columns)
            .select_from(source)
            .where(p.c.model == model, p.c.role.in_(list(roles)))
        )
        if version is not None:
            query = query.where(p.c.version == version)
        if since_ms is not None:
            query = query.where(p.c.ts_ms >= since_ms)
        if until_ms is not None:
            query = query.where(p.c.ts_ms < until_ms)
        if last is None:
            query = query.order_by(p.c.ts_ms, p.c.id)
        else:
            query = query.order_by(p.c.ts_ms.desc(), p.c.id.desc()).limit(int(last))
        with self._metadata.read() as conn:
            rows = [tuple(row) for row in conn.execute(query)]
        if last is not None:
            rows.reverse()
        return prediction_frame(rows, labels)

    def record_labels(
        self, labels: Mapping[tuple[str, int], Any] | pd.DataFrame, *, ts_ms: int | None = None
    ) -> int:
        by_row = label_rows(labels)
        if not by_row:
            return 0
        stamp = now_ms() if ts_ms is None else check_integer(ts_ms, "ts_ms")
        ids = list(dict.fromkeys(request_id for request_id, _ in by_row))
        rows = [
            {"request_id": request_id, "row": row, "label": label, "ts_ms": stamp}
            for (request_id, row), label in by_row.items()
        ]
        with self._metadata.write() as conn:
            known: set[str] = set()
            for start in range(0, len(ids), _LOOKUP_CHUNK):
                chunk = ids[start : start + _LOOKUP_CHUNK]
                found = select(predictions.c.request_id).where(predictions.c.request_id.in_(chunk))
                known.update(conn.execute(found.distinct()).scalars())
            unknown = [request_id for request_id in ids if request_id not in known]
            if unknown:
                named = ", ".join(repr(request_id) for request_id in unknown[:10])
                more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
                raise InvalidInputError(
                    f"no prediction was logged for the request ids {named}{more}; no label "
                    "was stored. Label only logged requests (flush the PredictionLog first)"
                )
            self._metadata.upsert(conn, prediction_labels, rows, keys=("request_id", "row"))
        return len(rows)
