"""Column profiles: the figures each kind of column records."""

from __future__ import annotations

import datetime

import numpy as np
import pyarrow as pa
import pytest

from mlpilot.store._profile import HISTOGRAM_BINS, ColumnProfile, profile_table


def profile(array: pa.Array) -> ColumnProfile:
    return profile_table(pa.table({"c": array}))["c"]


def test_numbers_get_moments_quantiles_and_a_histogram() -> None:
    values = np.random.default_rng(0).normal(10, 2, 10_001)
    p = profile(pa.array(np.append(values, [np.nan, np.inf])))

    finite = values
    assert p.kind == "number" and p.family == "float"
    assert (p.count, p.nulls) == (10_003, 0)
    assert p.min == finite.min() and p.max == finite.max()
    assert p.mean == pytest.approx(finite.mean())
    assert p.std == pytest.approx(finite.std(ddof=1))
    assert p.quantiles["p50"] == pytest.approx(np.median(finite))
    assert p.quantiles["p05"] == pytest.approx(np.quantile(finite, 0.05))
    counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
    assert p.histogram["counts"] == counts.tolist()
    assert p.histogram["edges"] == pytest.approx(edges.tolist())
    assert p.distinct == len(np.unique(finite))


def test_integers_with_nulls() -> None:
    p = profile(pa.array([3, None, 1, 3, None]))
    assert (p.count, p.nulls, p.null_share) == (3, 2, 0.4)
    assert (p.min, p.max, p.distinct, p.family) == (1, 3, 2, "integer")


def test_text_and_categories_record_their_most_frequent_values() -> None:
    for array in (
        pa.array(["b", "a", "b", None, "c", "b"]),
        pa.array(["b", "a", "b", None, "c", "b"]).dictionary_encode(),
    ):
        p = profile(array)
        assert p.kind == "text" and p.family == "string"
        assert p.top[0] == ("b", 3)
        assert sorted(p.top) == [("a", 1), ("b", 3), ("c", 1)]
        assert (p.distinct, p.min, p.max, p.nulls) == (3, "a", "c", 1)


def test_booleans_record_their_true_share() -> None:
    p = profile(pa.array([True, False, True, True]))
    assert p.mean == 0.75 and p.top == [(True, 3), (False, 1)]


@pytest.mark.parametrize(
    ("array", "low", "high"),
    [
        (
            pa.array([datetime.date(2024, 3, 1), datetime.date(2023, 1, 9)]),
            "2023-01-09",
            "2024-03-01",
        ),
        (
            pa.array([5, 1], pa.timestamp("s", tz="UTC")),
            "1970-01-01T00:00:01+00:00",
            "1970-01-01T00:00:05+00:00",
        ),
        (pa.array([90, 3_600], pa.duration("s")), "0:01:30", "1:00:00"),
    ],
)
def test_dates_times_and_durations_record_their_bounds(
    array: pa.Array, low: str, high: str
) -> None:
    p = profile(array)
    assert (p.kind, p.min, p.max, p.distinct) == ("temporal", low, high, 2)


def test_an_empty_or_all_null_column_has_counts_only() -> None:
    assert profile(pa.array([None, None], pa.float64())) == ColumnProfile(
        name="c", type="double", kind="number", family="float", count=0, nulls=2, distinct=0
    )
    assert profile(pa.array([], pa.int64())).count == 0


def test_profiles_survive_json() -> None:
    p = profile(pa.array(["x", "y", "x"]))
    assert ColumnProfile.from_json(p.to_json()) == p
