"""The SQL pipeline records pass the pipeline contract on SQLite and PostgreSQL."""

from __future__ import annotations

from mlpilot.testing import PipelineRecordsContract


class TestSqlPipelineRecords(PipelineRecordsContract):
    pass
