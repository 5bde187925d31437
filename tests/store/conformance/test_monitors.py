"""The SQL monitor records pass the monitor contract on SQLite and PostgreSQL."""

from __future__ import annotations

from mlpilot.testing import MonitorRecordsContract


class TestSqlMonitorRecords(MonitorRecordsContract):
    pass
