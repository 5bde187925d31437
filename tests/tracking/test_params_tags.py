"""Params are fixed once logged; tags can change."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._schema import params
from mlpilot.tracking import TrackingClient


def stored_params(client: TrackingClient, run_id: str) -> dict[str, str]:
    return client.get_run(run_id).params


def test_params_are_stored_as_text(client: TrackingClient) -> None:
    with client.create_run() as run:
        run.log_param("lr", 0.01)
        run.log_params({"depth": 3, "model": "gbm", "early_stop": True, "layers": [64, 32]})

    assert stored_params(client, run.id) == {
        "lr": "0.01",
        "depth": "3",
        "model": "gbm",
        "early_stop": "True",
        "layers": "[64, 32]",
    }


def test_logging_the_same_value_again_is_fine(client: TrackingClient) -> None:
    with client.create_run() as run:
        run.log_param("lr", 0.01)
        run.log_param("lr", 0.01)
        run.log_param("lr", "0.01")

    assert stored_params(client, run.id) == {"lr": "0.01"}


def test_changing_a_param_is_a_conflict(client: TrackingClient) -> None:
    with client.create_run() as run:
        run.log_param("lr", 0.01)
        with pytest.raises(
            ConflictError, match=r"param 'lr' .* is '0\.01' and cannot become '0\.02'"
        ):
            run.log_param("lr", 0.02)

    assert stored_params(client, run.id) == {"lr": "0.01"}


def test_a_conflicting_call_stores_none_of_its_params(client: TrackingClient) -> None:
    with client.create_run() as run:
        run.log_param("lr", 0.01)
        with pytest.raises(ConflictError, match="'lr'"):
            run.log_params({"batch_size": 64, "lr": 0.5})

    assert stored_params(client, run.id) == {"lr": "0.01"}


def test_a_bad_param_stores_none_of_its_call(client: TrackingClient) -> None:
    with client.create_run() as run:
        with pytest.raises(InvalidInputError, match="param key"):
            run.log_params({"good": 1, "bad\nkey": 2})
        with pytest.raises(InvalidInputError, match="8000"):
            run.log_params({"good": 1, "huge": "x" * 8001})

    assert stored_params(client, run.id) == {}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("", 1, "empty"),
        (" lr", 1, "surrounding spaces"),
        ("x" * 251, 1, "250"),
        ("a\tb", 1, "control characters"),
        ("bad\udcff", 1, "UTF-8"),
        (3, 1, "must be a string"),
        ("text", "bad\udcff", "UTF-8"),
        ("text", "x" * 8001, "8000"),
        ("text", "a\x00b", "NUL"),
    ],
)
def test_bad_params_are_refused(client: TrackingClient, key: Any, value: Any, message: str) -> None:
    with client.create_run() as run:
        with pytest.raises(InvalidInputError, match=message):
            run.log_param(key, value)

    assert stored_params(client, run.id) == {}


def test_params_are_not_a_mapping(client: TrackingClient) -> None:
    with client.create_run() as run:
        with pytest.raises(InvalidInputError, match="mapping"):
            run.log_params([("lr", 1)])  # type: ignore[arg-type]


def test_params_of_an_unknown_run(client: TrackingClient) -> None:
    with pytest.raises(NotFoundError, match="no run"):
        client.log_params("0" * 32, {"lr": 1})
    with client.create_run() as run:
        pass
    with pytest.raises(NotFoundError, match="full 32-character id"):
        client.log_params(run.id[:8], {"lr": 1})
    with client.store.metadata.read() as conn:
        assert conn.execute(select(func.count()).select_from(params)).scalar() == 0


def test_params_given_at_start_are_fixed_too(client: TrackingClient) -> None:
    with client.create_run(params={"seed": 1}) as run:
        with pytest.raises(ConflictError, match="'seed'"):
            run.log_param("seed", 2)

    assert stored_params(client, run.id) == {"seed": "1"}


def test_tags_overwrite(client: TrackingClient) -> None:
    with client.create_run(tags={"stage": "draft"}) as run:
        run.set_tag("stage", "review")
        run.set_tags({"stage": "final", "owner": "ana"})
        run.set_tag("reviewed", True)

    assert client.get_run(run.id).tags == {"stage": "final", "owner": "ana", "reviewed": "True"}


def test_bad_tags_are_refused(client: TrackingClient) -> None:
    with client.create_run(tags={"stage": "draft"}) as run:
        with pytest.raises(InvalidInputError, match="tag key"):
            run.set_tags({"stage": "final", "": "x"})
        with pytest.raises(InvalidInputError, match="NUL"):
            run.set_tags({"stage": "final", "note": "a\x00b"})

    assert client.get_run(run.id).tags == {"stage": "draft"}
