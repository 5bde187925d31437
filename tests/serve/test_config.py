"""What a server serves and how, from arguments or a TOML file; every bad setting is
refused by name."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from mlpilot.errors import ConfigError
from mlpilot.serve import ModelConfig, ServeConfig, model_configs

DOCUMENT: dict[str, Any] = {
    "server": {
        "host": "0.0.0.0",
        "port": 9001,
        "workers": 6,
        "max_body_mb": 2.5,
        "log_sample": 0.25,
        "poll_s": 3.0,
        "rebalance_s": 0.5,
    },
    "models": [
        {
            "uri": "churn@champion",
            "max_batch": 32,
            "max_wait_ms": 1.5,
            "latency_target_ms": 20.0,
            "percentile": 99.0,
            "min_workers": 2,
            "max_workers": 4,
            "idle_unload_s": 0.0,
            "challenger": "churn@challenger",
            "split": 0.2,
            "mode": "shadow",
        },
        {"uri": "models:/fraud/3", "min_workers": 0, "idle_unload_s": 60.0},
    ],
}
EXPECTED = ServeConfig(
    models=(
        ModelConfig(
            uri="churn@champion",
            max_batch=32,
            max_wait_ms=1.5,
            latency_target_ms=20.0,
            percentile=99.0,
            min_workers=2,
            max_workers=4,
            idle_unload_s=0.0,
            challenger="churn@challenger",
            split=0.2,
            mode="shadow",
        ),
        ModelConfig(uri="models:/fraud/3", min_workers=0, idle_unload_s=60.0),
    ),
    host="0.0.0.0",
    port=9001,
    workers=6,
    max_body_mb=2.5,
    log_sample=0.25,
    poll_s=3.0,
    rebalance_s=0.5,
)


def write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "serve.toml"
    path.write_text(tomli_w.dumps(document), encoding="utf-8")
    return path


def test_a_toml_file_gives_the_config_it_spells(tmp_path: Path) -> None:
    config = ServeConfig.from_toml(write(tmp_path, DOCUMENT))

    assert config == EXPECTED
    assert [m.name for m in config.models] == ["churn", "fraud"]


def test_overrides_replace_the_files_server_settings(tmp_path: Path) -> None:
    config = ServeConfig.from_toml(write(tmp_path, DOCUMENT), port=9100, workers=None, host=None)

    assert (config.port, config.workers, config.host) == (9100, 6, "0.0.0.0")


def test_defaults() -> None:
    config = ServeConfig.from_dict({"models": [{"uri": "churn@champion"}]})

    assert config == ServeConfig(models=(ModelConfig(uri="churn@champion"),))
    assert (config.host, config.port, config.workers, config.log_sample) == (
        "127.0.0.1",
        8080,
        None,
        0.1,
    )
    model = config.models[0]
    assert (model.max_batch, model.max_wait_ms, model.mode, model.challenger) == (
        64,
        2.0,
        "canary",
        None,
    )


def test_model_configs_share_the_options_given() -> None:
    configs = model_configs(["churn@champion", "fraud/2"], max_batch=8, split=None)

    assert configs == (
        ModelConfig(uri="churn@champion", max_batch=8),
        ModelConfig(uri="fraud/2", max_batch=8),
    )


@pytest.mark.parametrize(
    ("setting", "value", "fragment"),
    [
        ("uri", "churn", "'churn'"),
        ("uri", "churn@", "'churn@'"),
        ("uri", "churn/latest", "'churn/latest'"),
        ("max_batch", 0, "max_batch"),
        ("max_batch", 1.5, "max_batch"),
        ("max_batch", "8", "max_batch"),
        ("max_wait_ms", -1, "max_wait_ms"),
        ("max_wait_ms", "2", "max_wait_ms"),
        ("max_wait_ms", math.nan, "max_wait_ms"),
        ("latency_target_ms", 0, "latency_target_ms"),
        ("latency_target_ms", math.inf, "latency_target_ms"),
        ("percentile", 49, "percentile"),
        ("percentile", 100, "percentile"),
        ("min_workers", -1, "min_workers"),
        ("min_workers", 0.5, "min_workers"),
        ("max_workers", 0, "max_workers"),
        ("idle_unload_s", -5, "idle_unload_s"),
        ("split", 0, "split"),
        ("split", 1.5, "split"),
        ("mode", "mirror", "mode"),
        ("challenger", "other@challenger", "'other@challenger'"),
        ("challenger", "churn", "'churn'"),
    ],
)
def test_a_bad_model_setting_is_refused_by_name(setting: str, value: Any, fragment: str) -> None:
    table = {"uri": "churn@champion", setting: value}

    with pytest.raises(ConfigError, match="churn|serve a model") as raised:
        ServeConfig.from_dict({"models": [table]})

    assert fragment in str(raised.value)


def test_max_workers_below_min_workers_is_refused() -> None:
    with pytest.raises(ConfigError, match="max_workers"):
        ModelConfig(uri="churn@champion", min_workers=3, max_workers=2)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("port", 70000),
        ("port", -1),
        ("port", "8080"),
        ("workers", 0),
        ("workers", 1.5),
        ("max_body_mb", 0),
        ("max_body_mb", "big"),
        ("log_sample", 1.5),
        ("log_sample", -0.1),
        ("poll_s", 0),
        ("rebalance_s", -1),
        ("rebalance_s", math.nan),
        ("host", 5),
    ],
)
def test_a_bad_server_setting_is_refused_by_name(setting: str, value: Any) -> None:
    document = {"server": {setting: value}, "models": [{"uri": "churn@champion"}]}

    with pytest.raises(ConfigError, match=setting):
        ServeConfig.from_dict(document)


def test_a_boolean_is_not_a_whole_number() -> None:
    accepted = []
    for where, setting in [
        ("models", "max_batch"),
        ("models", "min_workers"),
        ("models", "max_workers"),
        ("server", "port"),
        ("server", "workers"),
    ]:
        model: dict[str, Any] = {"uri": "churn@champion"}
        server: dict[str, Any] = {}
        (model if where == "models" else server)[setting] = True
        try:
            ServeConfig.from_dict({"server": server, "models": [model]})
        except ConfigError as exc:
            assert setting in str(exc)
        else:
            accepted.append(setting)
    assert accepted == [], f"true was taken as a number for {accepted}"


def test_fewer_workers_than_the_models_need_are_refused() -> None:
    models = [{"uri": "a@champion", "min_workers": 2}, {"uri": "b@champion", "min_workers": 2}]

    with pytest.raises(ConfigError, match=r"workers \(3\)"):
        ServeConfig.from_dict({"server": {"workers": 3}, "models": models})


def test_no_model_or_one_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least one model"):
        ServeConfig.from_dict({"server": {"port": 9000}})
    with pytest.raises(ConfigError, match="churn"):
        ServeConfig.from_dict({"models": [{"uri": "churn@champion"}, {"uri": "churn/2"}]})


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        pytest.param({"server": {"prot": 9000}, "models": [{"uri": "a@b"}]}, "prot", id="server"),
        pytest.param({"models": [{"uri": "a@b", "max_batches": 8}]}, "max_batches", id="model"),
        pytest.param({"servr": {"port": 9000}, "models": [{"uri": "a@b"}]}, "servr", id="table"),
        pytest.param(
            {"models": [{"uri": "a@b"}], "model": [{"uri": "c@d"}]}, "'model'", id="tables"
        ),
    ],
)
def test_an_unknown_setting_is_refused_by_name(document: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as raised:
        ServeConfig.from_dict(document)

    assert fragment in str(raised.value)


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        pytest.param({"server": 5, "models": [{"uri": "a@b"}]}, "server", id="server-value"),
        pytest.param({"models": {"uri": "a@b"}}, "[[models]]", id="models-table"),
        pytest.param({"models": [5]}, "uri", id="model-value"),
        pytest.param({"models": [{"max_batch": 8}]}, "uri", id="no-uri"),
    ],
)
def test_a_misshapen_document_is_refused(document: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as raised:
        ServeConfig.from_dict(document)

    assert fragment in str(raised.value)


def test_an_unreadable_file_is_refused_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nport = 1", encoding="utf-8")

    for path in (broken, tmp_path / "absent.toml"):
        with pytest.raises(ConfigError, match=path.name):
            ServeConfig.from_toml(path)
