"""What registration accepts, how it stores every Arrow type, and what the digest covers."""

from __future__ import annotations

import datetime
import decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.store import DatasetStore
from mlpilot.store._content import as_table, content_digest

# Every type a dataset may hold, with a null in each column.
EVERY_TYPE = {
    "bool": pa.array([True, None, False]),
    "int8": pa.array([1, None, -3], pa.int8()),
    "int64": pa.array([2**62, None, -1], pa.int64()),
    "uint64": pa.array([1, None, 2**63], pa.uint64()),
    "float16": pa.array([np.float16(1.5), None, np.float16(-2)], pa.float16()),
    "float32": pa.array([1.0, None, 2.5], pa.float32()),
    "float64": pa.array([1e300, None, -0.0], pa.float64()),
    "decimal128": pa.array(
        [decimal.Decimal("1.25"), None, decimal.Decimal("-3.50")], pa.decimal128(10, 2)
    ),
    "decimal256": pa.array(
        [decimal.Decimal("1.25"), None, decimal.Decimal("7")], pa.decimal256(40, 2)
    ),
    "string": pa.array(["a", None, "ccc"]),
    "large_string": pa.array(["é", None, ""], pa.large_string()),
    "binary": pa.array([b"a", None, b"\x00\xff"]),
    "fixed_binary": pa.array([b"ab", None, b"cd"], pa.binary(2)),
    "date32": pa.array([datetime.date(2020, 1, 1), None, datetime.date(1969, 7, 20)]),
    "date64": pa.array([datetime.date(2020, 1, 1), None, datetime.date(1969, 7, 20)], pa.date64()),
    "time32": pa.array([1, None, 3], pa.time32("s")),
    "time64": pa.array([1, None, 3], pa.time64("ns")),
    "timestamp_s": pa.array([1, None, 3], pa.timestamp("s")),
    "timestamp_tz": pa.array([1, None, 3], pa.timestamp("ms", tz="Europe/Paris")),
    "timestamp_ns": pa.array([1, None, 3], pa.timestamp("ns", tz="UTC")),
    "duration": pa.array([1, None, -3], pa.duration("us")),
    "dictionary": pa.array(["red", None, "red"]).dictionary_encode(),
    "list": pa.array([[1, 2], None, []], pa.list_(pa.int32())),
    "large_list": pa.array([[1.5], None, [None]], pa.large_list(pa.float64())),
    "fixed_list": pa.array([[1, 2], None, [3, 4]], pa.list_(pa.int16(), 2)),
    "struct": pa.array([{"x": 1, "y": "a"}, None, {"x": None, "y": "b"}]),
    "map": pa.array([[("a", 1)], None, []], pa.map_(pa.string(), pa.int64())),
    "null": pa.array([None, None, None]),
}


def test_every_supported_type_reads_back_exactly(datasets: DatasetStore) -> None:
    table, _ = as_table(pa.table(EVERY_TYPE))
    version = datasets.register("types", pa.table(EVERY_TYPE))

    back = datasets.read(version).to_table()

    assert back.schema.equals(table.schema)
    assert back.equals(table)
    assert [c["name"] for c in version.columns] == list(EVERY_TYPE)


def test_types_parquet_stores_differently_are_registered_as_they_read_back() -> None:
    table, _ = as_table(pa.table({k: EVERY_TYPE[k] for k in ("date64", "time32", "timestamp_s")}))
    assert [str(t) for t in table.schema.types] == ["date32[day]", "time32[ms]", "timestamp[ms]"]


def test_a_type_parquet_cannot_store_is_refused_naming_the_column() -> None:
    interval = pa.array([pa.MonthDayNano([1, 2, 3])], pa.month_day_nano_interval())
    with pytest.raises(InvalidInputError, match="column 'gap' has type month_day_nano_interval"):
        as_table(pa.table({"ok": [1], "gap": interval}))


@pytest.mark.parametrize("row_group_size", [1, 7, 1000, 50_000])
def test_digest_does_not_depend_on_row_groups(tmp_path: Path, row_group_size: int) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=2000),
            "city": rng.choice(["oslo", "lima", None], 2000),
            "n": pd.array(rng.integers(0, 9, 2000), dtype="Int64"),
        }
    )
    frame.loc[::13, "n"] = None
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pandas(frame), path, row_group_size=row_group_size)

    from_file, _ = as_table(path)
    from_frame, _ = as_table(frame)

    assert content_digest(from_file) == content_digest(from_frame)


def test_digest_ignores_chunking_and_what_lies_under_nulls() -> None:
    values = pa.array([1.0, 2.0, 3.0, 4.0])
    masked = pa.Array.from_buffers(
        pa.float64(), 4, [pa.array([True, False, True, True]).buffers()[1], values.buffers()[1]]
    )
    other = pa.array([1.0, None, 3.0, 4.0])  # the null slot holds 0.0 here, 2.0 above
    chunked = pa.chunked_array([other.slice(0, 1), other.slice(1)])

    digests = {content_digest(pa.table({"v": x})) for x in (masked, other, chunked)}

    assert len(digests) == 1


def test_digest_changes_with_any_value_name_or_type() -> None:
    base = pa.table({"a": [1, 2, 3], "s": ["x", "y", None]})
    variants = [
        pa.table({"a": [1, 2, 4], "s": ["x", "y", None]}),
        pa.table({"a": [1, 2, 3], "s": ["x", "y", ""]}),
        pa.table({"a": [1, 2, 3], "s": ["x", "yy", None]}),
        pa.table({"b": [1, 2, 3], "s": ["x", "y", None]}),
        pa.table({"a": pa.array([1, 2, 3], pa.int32()), "s": ["x", "y", None]}),
        pa.table({"s": ["x", "y", None], "a": [1, 2, 3]}),
        base.slice(0, 2),
    ]
    digests = {content_digest(t) for t in [base, *variants]}
    assert len(digests) == len(variants) + 1


def test_text_is_the_same_content_from_pandas_or_from_a_csv(tmp_path: Path) -> None:
    frame = pd.DataFrame({"plan": ["basic", "pro"], "seats": [3, 5]})
    frame.to_csv(tmp_path / "plans.csv", index=False)

    from_frame, _ = as_table(frame)
    from_csv, source = as_table(tmp_path / "plans.csv")

    assert from_frame.schema.field("plan").type == pa.string()
    assert content_digest(from_frame) == content_digest(from_csv)
    assert source == f"csv: {tmp_path / 'plans.csv'}"


def test_a_named_index_is_kept_and_an_unnamed_range_index_dropped() -> None:
    frame = pd.DataFrame({"v": [1, 2]}, index=pd.Index(["a", "b"], name="key"))
    assert as_table(frame)[0].column_names == ["key", "v"]
    assert as_table(frame.reset_index(drop=True))[0].column_names == ["v"]
    ids = pd.DataFrame({"user_id": [1, 2, 3], "x": [0.1, 0.2, 0.3]}).set_index("user_id")
    assert as_table(ids)[0].column_names == ["user_id", "x"]


def test_files_with_different_columns_are_refused(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "p1.parquet")
    pq.write_table(pa.table({"a": [3], "b": ["x"]}), tmp_path / "p2.parquet")
    with pytest.raises(InvalidInputError, match=r"only in this one: \['b'\]"):
        as_table([tmp_path / "p1.parquet", tmp_path / "p2.parquet"])


def test_a_partitioned_folder_keeps_its_keys_and_skips_marker_files(tmp_path: Path) -> None:
    for year in (2020, 2021):
        (tmp_path / "sales" / f"year={year}").mkdir(parents=True)
        pq.write_table(pa.table({"n": [year]}), tmp_path / "sales" / f"year={year}" / "p.parquet")
    (tmp_path / "sales" / "_SUCCESS").write_text("")
    table, _ = as_table(tmp_path / "sales")
    pairs = zip(table.column("year").to_pylist(), table.column("n").to_pylist(), strict=True)
    assert sorted(pairs) == [
        (2020, 2020),
        (2021, 2021),
    ]


def test_extension_types_from_pandas_are_stored() -> None:
    table, _ = as_table(pd.DataFrame({"span": pd.interval_range(0, 3)}))
    assert len(content_digest(table)) == 64


def test_a_folder_of_parquet_files_is_one_table(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    for index in range(3):
        pq.write_table(pa.table({"i": [index] * 2}), tmp_path / "parts" / f"{index}.parquet")
    table, _ = as_table(tmp_path / "parts")
    assert sorted(table.column("i").to_pylist()) == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"a": [1]}, "cannot register dict"),
        (pd.DataFrame(), "at least one column"),
        (pd.DataFrame({0: [1]}), "column names must be non-empty text; got 0"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), "column 'a' appears twice"),
        ("notes.txt", "no such file"),
        (pd.DataFrame({"s": pd.arrays.SparseArray([0, 0, 1])}), "cannot be stored as Arrow"),
    ],
)
def test_what_cannot_be_registered_says_why(data: object, message: str) -> None:
    with pytest.raises((InvalidInputError, NotFoundError), match=message):
        as_table(data)  # type: ignore[arg-type]


def test_files_of_unknown_format_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidInputError, match="notes.txt: register Parquet"):
        as_table(tmp_path / "notes.txt")


def test_a_malformed_csv_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(InvalidInputError, match="cannot read .*bad.csv as csv"):
        as_table(tmp_path / "bad.csv")


def test_empty_csv_fields_are_missing_values_and_tsv_is_tab_separated(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("name,city\nada,\nbob,oslo\n")
    (tmp_path / "b.tsv").write_text("name\tcity\nada\t\nbob\toslo\n")
    from_csv, _ = as_table(tmp_path / "a.csv")
    from_tsv, _ = as_table(tmp_path / "b.tsv")
    assert from_csv.column("city").to_pylist() == [None, "oslo"]
    assert content_digest(from_csv) == content_digest(from_tsv)
