"""The SQL dataset records pass the datasets' contract on SQLite and PostgreSQL."""

from __future__ import annotations

from mlpilot.testing import DatasetRecordsContract


class TestSqlDatasetRecords(DatasetRecordsContract):
    pass
