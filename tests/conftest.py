"""Fixtures shared by the whole suite.

Every test runs in its own folder with no MLPILOT_* settings leaking in from the
environment. Store-backed fixtures are parametrised over SQLite and PostgreSQL; the
PostgreSQL cases run against ``MLPILOT_TEST_POSTGRES_URL`` (CI sets it) in a schema
of their own, and skip with a reason where it is unset.

Each test's store starts as a new, migrated, empty store, without running the
migrations for each test (they cost a fifth of a second on SQLite and about a second on
PostgreSQL): SQLite stores are copies of one file migrated per session, and PostgreSQL
schemas, migrated once, are emptied after their test for the next one. The migration
tests get databases with no schema at all (``empty_store_uri``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Connection, Engine, MetaData, create_engine, text
from sqlalchemy.exc import DBAPIError

from mlpilot.config import Settings, load_settings
from mlpilot.store import DatasetStore, MetadataStore, Store
from mlpilot.tracking import TrackingClient

POSTGRES_URL = os.environ.get("MLPILOT_TEST_POSTGRES_URL")
#: Why the PostgreSQL cases skip: ``.ci/run`` says when PostgreSQL would not start.
POSTGRES_SKIP_REASON = os.environ.get(
    "MLPILOT_TEST_POSTGRES_SKIP_REASON", "set MLPILOT_TEST_POSTGRES_URL to test PostgreSQL"
)
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=[
            pytest.mark.integration,
            pytest.mark.skipif(not POSTGRES_URL, reason=POSTGRES_SKIP_REASON),
        ],
    ),
]


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for ``-n auto``: one more than the cores, up to four. Many tests wait on
    processes of their own (servers, drivers, controllers), so a third worker on two
    cores keeps them busy; four stays within PostgreSQL's connection limit."""
    return min(4, (os.cpu_count() or 1) + 1)


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MLPILOT_") and name != "MLPILOT_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("MLPILOT_HOME", str(tmp_path / ".mlpilot"))
    monkeypatch.chdir(tmp_path)


def sqlite_uri(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated to the newest schema, to copy for each test."""
    path = tmp_path_factory.mktemp("template") / "mlpilot.db"
    MetadataStore(sqlite_uri(path)).close()
    # Fold the write-ahead log into the file, so that the file alone is the store.
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def new_sqlite_store(template: Path, path: Path) -> str:
    """Copy the migrated ``template`` to ``path``; returns its URI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return sqlite_uri(path)


@pytest.fixture
def sqlite_store_uri(tmp_path: Path, sqlite_template: Path) -> str:
    """A new SQLite store's URI, for tests whose backend is not under test."""
    return new_sqlite_store(sqlite_template, tmp_path / "store" / "mlpilot.db")


def postgres_schema_uri(schema: str) -> str:
    """The test database's URI, with ``schema`` as the only schema on the search path."""
    assert POSTGRES_URL
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"


class PostgresSchemas:
    """Schemas of the PostgreSQL test database, one per test.

    A migrated schema goes back to the pool after its test with its rows deleted and its
    sequences restarted, the state of a new store; one that cannot be emptied (a lock
    still held) or whose relations changed is dropped instead.
    """

    def __init__(self, url: str) -> None:
        self._admin: Engine = create_engine(url)
        self._clean: list[str] = []
        self._made: list[str] = []
        # What a newly migrated schema holds: its relations, and its tables children
        # first (the order to delete them in), learnt from the first one.
        self._shape: str | None = None
        self._tables: list[str] = []
        self._sequences: list[str] = []

    def empty(self) -> str:
        """A new schema with nothing in it."""
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with self._admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        self._made.append(schema)
        return schema

    def migrated(self) -> str:
        """A schema holding a new store: from the pool, or migrated now."""
        if self._clean:
            return self._clean.pop()
        schema = self.empty()
        MetadataStore(postgres_schema_uri(schema)).close()
        if self._shape is None:
            self._learn(schema)
        return schema

    def give_back(self, schema: str) -> None:
        """Empty ``schema`` for the next test, or drop it if it cannot be."""
        try:
            with self._admin.begin() as conn:
                # A process the test left behind may hold a lock: give up rather than wait.
                conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                if self._shape_of(conn, schema) != self._shape:
                    raise LookupError(schema)
                conn.exec_driver_sql(self._emptying(schema))
        except (DBAPIError, LookupError):
            self.drop(schema)
        else:
            self._clean.append(schema)

    def drop(self, schema: str) -> None:
        if schema in self._clean:
            self._clean.remove(schema)
        self._made.remove(schema)
        with self._admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

    def close(self) -> None:
        for schema in list(self._made):
            self.drop(schema)
        self._admin.dispose()

    def _learn(self, schema: str) -> None:
        reflected = MetaData()
        reflected.reflect(self._admin, schema=schema)
        self._tables = [
            table.name
            for table in reversed(reflected.sorted_tables)
            if table.name != "alembic_version"
        ]
        with self._admin.connect() as conn:
            self._shape = self._shape_of(conn, schema)
            self._sequences = list(
                conn.execute(
                    text("SELECT sequencename FROM pg_sequences WHERE schemaname = :schema"),
                    {"schema": schema},
                ).scalars()
            )

    @staticmethod
    def _shape_of(conn: Connection, schema: str) -> str:
        found = conn.execute(
            text(
                "SELECT string_agg(c.relname || ':' || c.relkind::text, ',' ORDER BY c.relname) "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema"
            ),
            {"schema": schema},
        ).scalar()
        version = conn.exec_driver_sql(f'SELECT version_num FROM "{schema}".alembic_version').all()
        return f"{found}|{version}"

    def _emptying(self, schema: str) -> str:
        deletes = [f'DELETE FROM "{schema}"."{table}"' for table in self._tables]
        restarts = [f'SELECT setval(\'"{schema}"."{seq}"\', 1, false)' for seq in self._sequences]
        return ";\n".join(deletes + restarts)


@pytest.fixture(scope="session")
def postgres_schemas() -> Iterator[PostgresSchemas]:
    assert POSTGRES_URL
    schemas = PostgresSchemas(POSTGRES_URL)
    yield schemas
    schemas.close()


@pytest.fixture(params=BACKENDS)
def store_uri(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A new, empty store's metadata database URI on each backend (already migrated)."""
    if request.param == "sqlite":
        yield new_sqlite_store(sqlite_template, tmp_path / "store" / "mlpilot.db")
        return
    schemas: PostgresSchemas = request.getfixturevalue("postgres_schemas")
    schema = schemas.migrated()
    yield postgres_schema_uri(schema)
    schemas.give_back(schema)


@pytest.fixture(params=BACKENDS)
def empty_store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A metadata database URI on each backend where no store exists yet."""
    if request.param == "sqlite":
        yield sqlite_uri(tmp_path / "store" / "mlpilot.db")
        return
    schemas: PostgresSchemas = request.getfixturevalue("postgres_schemas")
    schema = schemas.empty()
    yield postgres_schema_uri(schema)
    schemas.drop(schema)


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
    """One local Ray with two cores, shared by the Ray tests of the process (under
    pytest-xdist, each worker that runs one starts its own)."""
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
