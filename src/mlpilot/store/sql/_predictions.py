"""The prediction log in SQL: the ``predictions`` and ``prediction_labels`` tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import and_, insert, select
from sqlalchemy.exc import SQLAlchemyError

from mlpilot.errors import StoreError
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
        rows = [
            {"request_id": request_id, "row": row, "label": label, "ts_ms": stamp}
            for (request_id, row), label in by_row.items()
        ]
        with self._metadata.write() as conn:
            self._metadata.upsert(conn, prediction_labels, rows, keys=("request_id", "row"))
        return len(rows)
