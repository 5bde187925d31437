"""Stores that cannot be opened give one clear error, never a raw driver exception."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mlpilot.errors import ConfigError, StoreError
from mlpilot.store import ArtifactStore, MetadataStore


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 300)
    with pytest.raises(StoreError, match="cannot open the metadata store"):
        MetadataStore(f"sqlite:///{garbage}")


def test_a_schema_from_a_newer_mlpilot_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    MetadataStore(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match="newer mlpilot"):
        MetadataStore(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("9999",)


def test_an_artifact_location_that_cannot_be_a_folder_is_a_config_error(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match="cannot use .* as the artifact store"):
        ArtifactStore((a_file / "artifacts").as_uri())
