"""The SQL trigger records pass the triggers' contract on SQLite and PostgreSQL."""

from __future__ import annotations

from mlpilot.testing import TriggerRecordsContract


class TestSqlTriggerRecords(TriggerRecordsContract):
    pass
