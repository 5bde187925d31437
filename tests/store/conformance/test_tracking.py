"""The SQL tracking records pass the tracking contract on SQLite and PostgreSQL."""

from __future__ import annotations

from mlpilot.testing import TrackingRecordsContract


class TestSqlTrackingRecords(TrackingRecordsContract):
    pass
