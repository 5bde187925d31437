"""Every storage interface of a server, reached over HTTP by a client, passes the same
contract as the SQL records, on SQLite and PostgreSQL behind the server: the client
changes nothing above the store."""

from __future__ import annotations

from mlpilot import testing


class TestHttpTrackingRecords(testing.TrackingRecordsContract):
    pass


class TestHttpDatasetRecords(testing.DatasetRecordsContract):
    pass


class TestHttpPipelineRecords(testing.PipelineRecordsContract):
    pass


class TestHttpStudyRecords(testing.StudyRecordsContract):
    pass


class TestHttpRegistryRecords(testing.RegistryRecordsContract):
    pass


class TestHttpPredictionRecords(testing.PredictionRecordsContract):
    pass


class TestHttpMonitorRecords(testing.MonitorRecordsContract):
    pass


class TestHttpEventRecords(testing.EventRecordsContract):
    pass


class TestHttpLeaseRecords(testing.LeaseRecordsContract):
    pass


class TestHttpTriggerRecords(testing.TriggerRecordsContract):
    pass
