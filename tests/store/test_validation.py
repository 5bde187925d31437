"""Schemas: each rule on its own, inference from a version, and the TOML form."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlpilot.errors import DataValidationError, InvalidInputError
from mlpilot.store import ColumnRule, DataSchema, DatasetStore, ValidationReport
from mlpilot.store._profile import profile_table

TABLE = pa.table(
    {
        "id": [1, 2, 3, 3, 5, 6],
        "age": [34, -1, 51, 140, None, 29],
        "plan": ["basic", "pro", "pro", "vip", None, "basic"],
        "joined": [datetime.date(2020, 1, d) for d in range(1, 7)],
        "score": [0.5, 0.7, None, 0.1, 0.9, 0.3],
    }
)


def check(*rules: ColumnRule, **table_rules: object) -> ValidationReport:
    return DataSchema(columns=rules, **table_rules).validate(TABLE, dataset="t")  # type: ignore[arg-type]


def only(report: ValidationReport) -> tuple[str, str, int, list[object]]:
    (failure,) = report.failures
    return failure.column, failure.rule, failure.failing_rows, failure.examples


def test_a_schema_the_data_meets_passes() -> None:
    report = check(ColumnRule("id", type="int64"), ColumnRule("plan", type="string"))
    assert report.ok
    assert str(report) == "t: all rules pass on 6 rows"
    report.raise_for_failures()


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (ColumnRule("age", type="string"), ("age", "type", 6, ["int64"])),
        (ColumnRule("age", nullable=False), ("age", "nullable", 1, ["null at row 4"])),
        (ColumnRule("age", min=0), ("age", "range", 1, [-1])),
        (ColumnRule("age", max=120), ("age", "range", 1, [140])),
        (ColumnRule("age", min=0, max=120), ("age", "range", 2, [-1, 140])),
        (ColumnRule("plan", allowed=["basic", "pro"]), ("plan", "allowed", 1, ["vip"])),
        (ColumnRule("id", unique=True), ("id", "unique", 2, [3])),
        (
            ColumnRule("joined", min="2020-01-03"),
            ("joined", "range", 2, [datetime.date(2020, 1, 1), datetime.date(2020, 1, 2)]),
        ),
        (ColumnRule("plan", max="pro"), ("plan", "range", 1, ["vip"])),
        (ColumnRule("email"), ("email", "required", 6, [])),
    ],
)
def test_each_rule_names_the_column_rows_and_examples(
    rule: ColumnRule, expected: tuple[str, str, int, list[object]]
) -> None:
    assert only(check(rule)) == expected


def test_type_families_match_several_types() -> None:
    for family, column in [
        ("integer", "id"),
        ("number", "score"),
        ("float", "score"),
        ("string", "plan"),
        ("date", "joined"),
    ]:
        assert check(ColumnRule(column, type=family)).ok, family
    assert not check(ColumnRule("score", type="integer")).ok


def test_an_optional_column_may_be_missing() -> None:
    assert check(ColumnRule("email", required=False)).ok


def test_row_bounds_and_extra_columns() -> None:
    assert only(check(min_rows=10)) == ("(rows)", "min_rows", 6, [])
    assert only(check(max_rows=5)) == ("(rows)", "max_rows", 6, [])
    report = check(
        ColumnRule("id"),
        ColumnRule("age"),
        ColumnRule("plan"),
        ColumnRule("score"),
        extra_columns=False,
    )
    assert only(report) == ("joined", "extra_columns", 6, [])


def test_every_failing_rule_is_reported_at_once() -> None:
    report = check(
        ColumnRule("age", nullable=False, min=0, max=120),
        ColumnRule("plan", allowed=["basic", "pro"]),
        min_rows=100,
    )
    assert [(f.column, f.rule) for f in report.failures] == [
        ("(rows)", "min_rows"),
        ("age", "nullable"),
        ("age", "range"),
        ("plan", "allowed"),
    ]
    with pytest.raises(DataValidationError) as error:
        report.raise_for_failures()
    assert error.value.report is report
    assert "plan: allowed (one of 'basic', 'pro') fails on 1 row(s); e.g. 'vip'" in str(error.value)


def test_categorical_columns_are_checked_by_their_values() -> None:
    table = pa.table({"plan": pa.array(["basic", "vip"]).dictionary_encode()})
    report = DataSchema([ColumnRule("plan", type="string", allowed=["basic"])]).validate(table)
    assert only(report) == ("plan", "allowed", 1, ["vip"])


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (lambda: ColumnRule("age", min=5, max=1), "min 5 above max 1"),
        (lambda: ColumnRule("age", min="a", max=1), "do not compare"),
        (lambda: ColumnRule("age", allowed="pro"), "must be a list"),
        (lambda: ColumnRule(""), "needs a column name"),
        (lambda: DataSchema([ColumnRule("a"), ColumnRule("a")]), "more than one rule"),
        (lambda: DataSchema(min_rows=-1), "min_rows must be a whole number"),
        (lambda: check(ColumnRule("age", min="old")), "bound 'old' of column 'age'"),
        (lambda: check(ColumnRule("age", allowed=["x"])), "allowed values of column 'age'"),
    ],
)
def test_a_malformed_schema_says_what_is_wrong(rule: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        rule()  # type: ignore[operator]


def test_inference_gives_a_schema_the_data_meets_and_new_data_can_break() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "user": np.arange(1000),
            "plan": rng.choice(["basic", "pro"], 1000),
            "spend": rng.normal(50, 10, 1000),
            "note": [f"n{i}" if i % 2 else None for i in range(1000)],
        }
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema = DataSchema.infer(profile_table(table), ranges=True)

    assert schema.column("user") == ColumnRule(
        "user", type="integer", nullable=False, min=0, max=999, unique=True
    )
    assert schema.column("plan") == ColumnRule(
        "plan", type="string", nullable=False, allowed=("basic", "pro")
    )
    assert schema.column("note").nullable and schema.column("note").allowed is None  # type: ignore[union-attr]
    assert schema.validate(table).ok

    drifted = frame.assign(plan="enterprise", spend=frame.spend + 1000)
    failed = {(f.column, f.rule) for f in schema.validate(pa.Table.from_pandas(drifted)).failures}
    assert failed == {("plan", "allowed"), ("spend", "range")}


def test_the_toml_form_round_trips(tmp_path: Path) -> None:
    schema = DataSchema(
        columns=(
            ColumnRule("age", type="int64", nullable=False, min=0, max=120),
            ColumnRule("plan", type="string", allowed=("basic", "pro")),
            ColumnRule("joined", min="2020-01-01", required=False),
            ColumnRule("id", unique=True),
        ),
        min_rows=5,
        extra_columns=False,
    )
    path = tmp_path / "schema.toml"
    path.write_text(schema.to_toml())
    assert DataSchema.from_toml(path) == schema


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("min_rows = 1\nmax_row = 3\n", r"schema.toml: unknown key\(s\) \['max_row'\]"),
        ("[columns.age]\nminimum = 0\n", r"\[columns.age\] has unknown key\(s\) \['minimum'\]"),
        ("columns = 3\n", "'columns' must be a table"),
        ("[columns\n", "cannot read schema file"),
    ],
)
def test_a_bad_toml_schema_names_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "schema.toml"
    path.write_text(text)
    with pytest.raises(InvalidInputError, match=message):
        DataSchema.from_toml(path)


def test_a_missing_schema_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no schema file at"):
        DataSchema.from_toml(tmp_path / "nope.toml")


def test_versions_and_frames_validate_through_the_store(datasets: DatasetStore) -> None:
    frame = pd.DataFrame({"age": [30, 40], "plan": ["basic", "pro"]})
    version = datasets.register("people", frame)
    schema = version.infer_schema()

    assert datasets.validate("people@v1", schema).ok
    report = datasets.validate(frame.assign(age=pd.array([30, None], dtype="Int64")), schema)
    assert report.dataset == "pandas.DataFrame"
    assert only(report)[:3] == ("age", "nullable", 1)


def test_nan_is_outside_every_range_and_cannot_be_a_bound() -> None:
    table = pa.table({"f": [0.0, 1.0, float("nan")]})
    report = DataSchema([ColumnRule("f", min=0, max=1)]).validate(table)
    assert only(report)[:3] == ("f", "range", 1)
    with pytest.raises(InvalidInputError, match="a bound cannot be NaN"):
        ColumnRule("f", min=float("nan"))


def test_inferred_ranges_hold_on_their_own_version_for_odd_types() -> None:
    table = pa.table(
        {
            "half": pa.array([np.float16(1.5), np.float16(-2)], pa.float16()),
            "big": pa.array([0, 2**64 - 1], pa.uint64()),
            "money": pa.array([1, 2], pa.decimal128(19, 2)),
        }
    )
    schema = DataSchema.infer(profile_table(table), ranges=True)
    assert schema.validate(table).ok


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ColumnRule("f", type="flaot"), "unknown type 'flaot'"),
        (lambda: ColumnRule("s", allowed=["a", None]), "cannot include None"),
        (lambda: ColumnRule("s", unique="yes"), "unique must be true or false"),
        (lambda: DataSchema.from_dict({"extra_columns": "false"}), "extra_columns must be true"),
    ],
)
def test_rule_mistakes_are_caught_when_the_rule_is_made(make: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        make()  # type: ignore[operator]


def test_value_rules_on_nested_columns_are_refused() -> None:
    table = pa.table({"l": [[1], [1]]})
    with pytest.raises(InvalidInputError, match="allowed and unique work on plain values"):
        DataSchema([ColumnRule("l", unique=True)]).validate(table)


def test_exact_types_with_parameters_are_accepted() -> None:
    for name in ("timestamp[us, tz=UTC]", "decimal128(10, 2)", "list<item: int64>", "int8"):
        assert ColumnRule("c", type=name).type == name
