"""The SQL study records pass the study contract on SQLite and PostgreSQL."""

from __future__ import annotations

from mlpilot.testing import StudyRecordsContract


class TestSqlStudyRecords(StudyRecordsContract):
    pass
