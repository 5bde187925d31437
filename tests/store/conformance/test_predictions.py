"""The SQL prediction records pass the prediction log's contract on SQLite and PostgreSQL."""

from __future__ import annotations

from mlpilot.testing import PredictionRecordsContract


class TestSqlPredictionRecords(PredictionRecordsContract):
    pass
