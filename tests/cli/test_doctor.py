"""``mlpilot doctor``: it exercises the stores and says what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mlpilot.cli import app
from mlpilot.config import Settings
from mlpilot.store._migrate import head_revision

from .conftest import Invoke, parse_json


def test_doctor_passes_on_a_healthy_store_and_reports_the_schema_revision(
    cli: Invoke, settings: Settings
) -> None:
    report = parse_json(cli("doctor", "--json"))
    assert report["ok"] is True
    checks = {check["name"]: check for check in report["checks"]}
    assert set(checks) == {"metadata store", "artifact store", "disk space"}
    assert all(check["ok"] for check in checks.values())
    assert checks["metadata store"]["facts"]["schema_revision"] == head_revision()
    assert report["settings"]["artifacts_uri"] == settings.artifacts_uri
    assert set(report["packages"]) >= {"sqlalchemy", "alembic", "fsspec", "scikit-learn"}
    # The probe blob is gone again.
    artifacts = Path(settings.artifacts_uri.removeprefix("file://"))
    assert not [p for p in (artifacts / "sha256").rglob("*") if p.is_file()]

    result = cli("doctor")
    assert result.exit_code == 0, result.output
    assert f"schema revision {head_revision()}" in result.stdout
    assert "✓ artifact store" in result.stdout
    assert "✗" not in result.stdout


def test_doctor_fails_with_status_1_and_hides_the_password(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the artifact folder should be")
    result = CliRunner().invoke(
        app,
        [
            "--store-uri",
            "postgresql+psycopg://mlpilot:s3cret-pw@127.0.0.1:1/nowhere?connect_timeout=2",
            "--artifacts-uri",
            blocked.as_uri(),
            "doctor",
            "--json",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "s3cret-pw" not in result.output
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert "***" in report["settings"]["store_uri"]
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["metadata store"]["ok"] is False
    assert checks["artifact store"]["ok"] is False
    assert checks["disk space"]["ok"] is True


def test_doctor_reports_unreadable_settings(tmp_path: Path) -> None:
    (tmp_path / "mlpilot.toml").write_text("[mlpilot]\nno_such_setting = 1\n")
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "✗ settings" in result.stdout
    assert "no_such_setting" in result.stdout
