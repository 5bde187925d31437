"""The SQL account records pass the accounts contract on SQLite and PostgreSQL."""

from __future__ import annotations

from mlpilot.testing import AccountRecordsContract


class TestSqlAccountRecords(AccountRecordsContract):
    pass
