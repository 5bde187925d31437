"""The SQL lease records pass the leases' contract on SQLite and PostgreSQL."""

from __future__ import annotations

from mlpilot.testing import LeaseRecordsContract


class TestSqlLeaseRecords(LeaseRecordsContract):
    pass
