"""Every storage interface of a server, reached over HTTP by a client, passes the same
contract as the SQL records: the client changes nothing above the store.

The server runs on SQLite: the SQL records pass the contract on PostgreSQL as well
(tests/store/conformance), and what the server adds is the same on both; two servers
on one PostgreSQL database are tested in test_server.py.
"""

from __future__ import annotations

import pytest

from mlpilot import testing

pytestmark = pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)


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


class TestHttpAccountRecords(testing.AccountRecordsContract):
    pass
