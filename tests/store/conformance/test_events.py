"""The SQL event records pass the audit log's contract on SQLite and PostgreSQL."""

from __future__ import annotations

from mlpilot.testing import EventRecordsContract


class TestSqlEventRecords(EventRecordsContract):
    pass
