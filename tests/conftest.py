"""Fixtures shared by the whole suite.

Every test runs in its own folder with no MLPILOT_* settings leaking in from the
environment. Store-backed fixtures are parametrised over SQLite and PostgreSQL; the
PostgreSQL cases run against ``MLPILOT_TEST_POSTGRES_URL`` (CI sets it) in a schema
of their own, and skip with a reason where it is unset.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from mlpilot.config import Settings, load_settings
from mlpilot.store import DatasetStore, Store
from mlpilot.tracking import TrackingClient

POSTGRES_URL = os.environ.get("MLPILOT_TEST_POSTGRES_URL")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=[
            pytest.mark.integration,
            pytest.mark.skipif(
                not POSTGRES_URL, reason="set MLPILOT_TEST_POSTGRES_URL to test PostgreSQL"
            ),
        ],
    ),
]


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MLPILOT_") and name != "MLPILOT_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("MLPILOT_HOME", str(tmp_path / ".mlpilot"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(params=BACKENDS)
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty metadata database URI on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'mlpilot.db'}"
        return
    assert POSTGRES_URL
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def settings(store_uri: str, tmp_path: Path) -> Settings:
    return load_settings(
        home=str(tmp_path / ".mlpilot"),
        store_uri=store_uri,
        artifacts_uri=(tmp_path / "artifacts").as_uri(),
        user="tester",
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store(settings)
    yield opened
    opened.close()


@pytest.fixture
def client(store: Store) -> TrackingClient:
    return TrackingClient(store)


@pytest.fixture
def datasets(store: Store) -> DatasetStore:
    return DatasetStore(store)


#: Where pytest imports the test packages from; Ray workers must import them too.
_TESTS = str(Path(__file__).resolve().parent)


@pytest.fixture(scope="session")
def ray_two_cores() -> Iterator[None]:
    """One local Ray with two cores, shared by every Ray test of the session."""
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        job_config=ray.job_config.JobConfig(code_search_path=[_TESTS]),
    )
    try:
        yield
    finally:
        ray.shutdown()
