"""The SQL registry records pass the model registry's contract on SQLite and PostgreSQL."""

from __future__ import annotations

from mlpilot.testing import RegistryRecordsContract


class TestSqlRegistryRecords(RegistryRecordsContract):
    pass
