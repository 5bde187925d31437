"""Drift tests find the columns that moved, agree with scipy, and say why a column or a
window could not be compared instead of failing."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.monitor import (
    ChiSquareTest,
    ColumnKind,
    ColumnResult,
    DriftTest,
    KSTest,
    NumericColumn,
    PSITest,
    ReferenceProfile,
    Window,
    check_drift,
)
from mlpilot.monitor.drift._kolmogorov import ks_p_values


def frames(seed: int, rows: int = 4_000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and a window in which ``income`` and ``plan`` moved and the rest
    did not."""
    rng = np.random.default_rng(seed)

    def draw(income_shift: float, plan_shares: list[float]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "age": rng.normal(40, 10, rows),
                "income": rng.lognormal(10 + income_shift, 0.5, rows),
                "clicks": rng.poisson(3, rows),
                "plan": rng.choice(["free", "pro", "team"], rows, p=plan_shares),
                "country": rng.choice(["de", "fr", "us"], rows, p=[0.2, 0.3, 0.5]),
                "active": rng.random(rows) < 0.7,
            }
        )

    return draw(0.0, [0.6, 0.3, 0.1]), draw(0.3, [0.45, 0.35, 0.2])


def numeric(profile: ReferenceProfile, name: str) -> NumericColumn:
    column = profile.columns[name]
    assert isinstance(column, NumericColumn)
    return column


@pytest.fixture(scope="module")
def data() -> tuple[ReferenceProfile, pd.DataFrame, pd.DataFrame]:
    reference, window = frames(seed=7)
    return ReferenceProfile.from_frame(reference), reference, window


# --------------------------------------------------------------------------- behaviour


def test_the_columns_that_moved_are_found_and_the_others_are_not(
    data: tuple[ReferenceProfile, pd.DataFrame, pd.DataFrame],
) -> None:
    profile, _, window = data

    report = check_drift(profile, window)

    assert report.evaluable
    assert report.drifted_columns == ["income", "plan"]
    assert report.result("income", "ks").drifted
    assert report.result("income", "psi").drifted
    assert report.result("plan", "chi2").drifted
    assert not report.result("age", "ks").drifted
    assert report.not_evaluable == {}


def test_each_test_runs_on_the_columns_of_its_kind(
    data: tuple[ReferenceProfile, pd.DataFrame, pd.DataFrame],
) -> None:
    profile, _, window = data

    tests_by_column = check_drift(profile, window).to_frame().groupby("column")["test"].apply(set)

    assert profile.kinds == {
        "age": "numeric",
        "income": "numeric",
        "clicks": "numeric",
        "plan": "categorical",
        "country": "categorical",
        "active": "categorical",
    }
    assert tests_by_column["age"] == {"ks", "psi"}
    assert tests_by_column["active"] == {"chi2", "psi"}


def test_the_same_data_shows_no_drift(
    data: tuple[ReferenceProfile, pd.DataFrame, pd.DataFrame],
) -> None:
    profile, reference, _ = data

    report = check_drift(profile, reference)

    assert report.drifted_columns == []
    assert all(r.statistic == pytest.approx(0, abs=1e-12) for r in report.results)


def test_a_pyarrow_table_gives_the_same_report_as_its_dataframe(
    data: tuple[ReferenceProfile, pd.DataFrame, pd.DataFrame],
) -> None:
    profile, reference, window = data

    from_table = check_drift(ReferenceProfile.from_frame(pa.Table.from_pandas(reference)), window)
    from_window_table = check_drift(profile, pa.Table.from_pandas(window))

    assert from_table.to_dict() == check_drift(profile, window).to_dict()
    assert from_window_table.to_dict() == check_drift(profile, window).to_dict()


def test_a_profile_read_back_from_bytes_gives_identical_results(
    data: tuple[ReferenceProfile, pd.DataFrame, pd.DataFrame],
) -> None:
    profile, _, window = data

    loaded = ReferenceProfile.from_bytes(profile.to_bytes())

    assert loaded.kinds == profile.kinds
    assert (loaded.rows, loaded.bins, loaded.sample_size) == (4_000, 10, 100_000)
    for name, column in profile.columns.items():
        for field in ("sample", "edges", "proportions", "counts", "categories"):
            if hasattr(column, field):
                np.testing.assert_array_equal(
                    getattr(loaded.columns[name], field), getattr(column, field)
                )
    assert check_drift(loaded, window).to_dict() == check_drift(profile, window).to_dict()


def test_the_report_as_a_frame_and_as_a_dict(
    data: tuple[ReferenceProfile, pd.DataFrame, pd.DataFrame],
) -> None:
    profile, _, window = data

    report = check_drift(profile, window, tests=("ks",))
    frame = report.to_frame()
    as_dict = report.to_dict()

    assert list(frame.columns) == [
        "column",
        "test",
        "statistic",
        "p_value",
        "threshold",
        "drifted",
        "reason",
    ]
    assert list(frame["column"]) == ["age", "income", "clicks"]
    assert as_dict["drifted_columns"] == ["income"]
    assert as_dict["rows"] == as_dict["reference_rows"] == 4_000
    assert as_dict["results"][1]["p_value"] == report.result("income", "ks").p_value
    with pytest.raises(NotFoundError, match="no 'chi2' result for column 'age'"):
        report.result("age", "chi2")


# --------------------------------------------------------------------------- agreement


@pytest.mark.parametrize(
    ("reference", "window"),
    [
        (np.random.default_rng(1).normal(size=3_000), np.random.default_rng(2).normal(size=2_000)),
        (
            np.random.default_rng(3).standard_t(3, size=1_500),
            np.random.default_rng(4).standard_t(3, size=4_100) + 0.1,
        ),
        # Many ties, within and across the two samples.
        (
            np.random.default_rng(5).poisson(4, size=2_500).astype(float),
            np.random.default_rng(6).poisson(4.3, size=900).astype(float),
        ),
        (np.random.default_rng(7).exponential(size=50), np.random.default_rng(8).normal(size=70)),
    ],
)
def test_ks_agrees_with_scipy(reference: np.ndarray, window: np.ndarray) -> None:
    profile = ReferenceProfile.from_frame(pd.DataFrame({"x": reference}))

    result = check_drift(profile, pd.DataFrame({"x": window}), tests=("ks",)).result("x", "ks")
    expected = stats.ks_2samp(reference, window, method="asymp")

    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-6)
    assert result.drifted == (expected.pvalue < 0.05)


def test_ks_leaves_out_missing_values_as_scipy_would_need_to() -> None:
    rng = np.random.default_rng(11)
    reference, window = rng.normal(size=2_000), rng.normal(0.2, 1, size=1_000)
    with_gaps = pd.Series(window).mask(rng.random(1_000) < 0.1)
    profile = ReferenceProfile.from_frame(
        pd.DataFrame({"x": pd.Series(reference).mask(rng.random(2_000) < 0.1)})
    )

    result = check_drift(profile, pd.DataFrame({"x": with_gaps}), tests="ks").result("x", "ks")
    expected = stats.ks_2samp(
        numeric(profile, "x").sample, with_gaps.dropna().to_numpy(), method="asymp"
    )

    assert profile.columns["x"].nulls == 2_000 - profile.columns["x"].count > 0
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-6)


@pytest.mark.parametrize(
    ("n", "points"), [(50, 20), (141, 20), (300, 20), (5_000, 20), (100_000, 3)]
)
def test_ks_p_values_stay_with_scipys_where_it_is_slow(n: int, points: int) -> None:
    # p near 1 (scipy's Durbin matrix), mid-range, the Smirnov tail, and beyond half;
    # scipy's own values take up to a fifth of a second each at n = 100,000.
    statistics = np.concatenate(
        [
            np.linspace(0.5 / n, 3 / n**0.5, 2 * points),
            np.sqrt(np.linspace(2.2, 369, points) / n),
            [0.6, 0.95],
        ]
    )
    statistics = statistics[statistics < 1]
    sizes = np.full(len(statistics), 2.0 * n)

    mine = ks_p_values(statistics, sizes, sizes)
    expected = stats.kstwo.sf(statistics, n)

    near_one = expected > 0.9
    np.testing.assert_allclose(mine[near_one], expected[near_one], rtol=0, atol=4e-6)
    np.testing.assert_allclose(mine[~near_one], expected[~near_one], rtol=1e-8, atol=1e-300)


def test_a_sampled_reference_stays_within_one_over_the_sample_size_of_scipy() -> None:
    rng = np.random.default_rng(12)
    reference, window = rng.normal(size=20_000), rng.normal(0.03, 1, size=5_000)
    profile = ReferenceProfile.from_frame(pd.DataFrame({"x": reference}), sample_size=1_000)

    result = check_drift(profile, pd.DataFrame({"x": window}), tests="ks").result("x", "ks")

    assert len(numeric(profile, "x").sample) == 1_000
    assert profile.columns["x"].count == 20_000
    expected = stats.ks_2samp(reference, window, method="asymp").statistic
    assert result.statistic == pytest.approx(expected, abs=1 / 1_000)


def test_chi_square_agrees_with_scipy_on_the_same_counts() -> None:
    reference = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 5)
    # "e" is a category the reference never saw; "d" no longer occurs.
    window = pd.Series(["a"] * 20 + ["b"] * 35 + ["c"] * 10 + ["e"] * 4)
    profile = ReferenceProfile.from_frame(pd.DataFrame({"plan": reference}))

    result = check_drift(profile, pd.DataFrame({"plan": window}), tests="chi2").result(
        "plan", "chi2"
    )
    expected = stats.chi2_contingency([[50, 30, 15, 5, 0], [20, 35, 10, 0, 4]])

    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.drifted


def test_chi_square_on_two_categories_has_no_continuity_correction() -> None:
    profile = ReferenceProfile.from_frame(pd.DataFrame({"on": [True] * 60 + [False] * 40}))

    result = check_drift(
        profile, pd.DataFrame({"on": [True] * 45 + [False] * 55}), tests="chi2"
    ).result("on", "chi2")
    expected = stats.chi2_contingency([[60, 40], [45, 55]], correction=False)

    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_psi_of_a_small_numeric_example_by_hand() -> None:
    # Two bins split at the reference's median, 5.5: shares 0.5 and 0.5.
    profile = ReferenceProfile.from_frame(pd.DataFrame({"x": np.arange(1.0, 11.0)}), bins=2)

    result = check_drift(profile, pd.DataFrame({"x": [1.0, 2.0, 3.0, 9.0]}), tests="psi")

    np.testing.assert_array_equal(numeric(profile, "x").edges, [5.5])
    expected = (0.75 - 0.5) * math.log(0.75 / 0.5) + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert result.result("x", "psi").statistic == pytest.approx(expected, rel=1e-12)
    assert result.result("x", "psi").drifted  # 0.2747 >= 0.2
    assert result.result("x", "psi").p_value is None


def test_psi_of_a_small_categorical_example_by_hand() -> None:
    profile = ReferenceProfile.from_frame(pd.DataFrame({"c": ["x", "x", "y", "y"]}))

    result = check_drift(profile, pd.DataFrame({"c": ["x", "x", "x", "z"]}), tests="psi")

    eps = 1e-4  # the share an empty bin is given: "y" in the window, "z" in the reference
    expected = (
        (0.75 - 0.5) * math.log(0.75 / 0.5)
        + (eps - 0.5) * math.log(eps / 0.5)
        + (0.25 - eps) * math.log(0.25 / eps)
    )
    assert result.result("c", "psi").statistic == pytest.approx(expected, rel=1e-12)


def test_tests_given_as_objects_keep_their_own_thresholds(
    data: tuple[ReferenceProfile, pd.DataFrame, pd.DataFrame],
) -> None:
    profile, _, window = data

    report = check_drift(profile, window, tests=(PSITest(threshold=0.001), ChiSquareTest(1e-50)))

    assert report.result("age", "psi").threshold == 0.001
    assert report.result("plan", "chi2").threshold == 1e-50
    # Sampling noise over ten bins alone reaches a PSI of 0.001; nothing reaches p < 1e-50.
    assert report.result("age", "psi").drifted
    assert not any(r.drifted for r in report.results if r.test == "chi2")


def test_bonferroni_divides_alpha_by_the_columns_compared(
    data: tuple[ReferenceProfile, pd.DataFrame, pd.DataFrame],
) -> None:
    profile, _, window = data

    report = check_drift(profile, window, tests=("ks", "chi2"), alpha=0.06, bonferroni=True)

    assert report.result("age", "ks").threshold == pytest.approx(0.02)
    assert report.result("plan", "chi2").threshold == pytest.approx(0.02)


class MeanShift(DriftTest):
    """Drift when the window's mean moves by more than ``threshold`` reference units."""

    name = "mean"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def applies_to(self, kind: ColumnKind) -> bool:
        return kind == "numeric"

    def compare(self, window: Window, columns: Sequence[str]) -> list[ColumnResult]:
        results = []
        for name in columns:
            sample = numeric(window.profile, name).sample
            shift = abs(window.values(name).mean() - sample.mean()) / sample.std()
            results.append(
                ColumnResult(name, self.name, shift, None, self.threshold, shift > self.threshold)
            )
        return results


def test_a_test_of_ones_own_runs_beside_the_named_ones(
    data: tuple[ReferenceProfile, pd.DataFrame, pd.DataFrame],
) -> None:
    profile, _, window = data

    report = check_drift(profile, window.drop(columns="age"), tests=("ks", MeanShift(0.1)))

    assert report.result("income", "mean").drifted
    assert not report.result("clicks", "mean").drifted
    assert report.result("age", "mean").reason == "missing from the window"


def test_a_test_checks_a_window_on_its_own(
    data: tuple[ReferenceProfile, pd.DataFrame, pd.DataFrame],
) -> None:
    profile, _, window = data

    results = KSTest(alpha=0.01).check(profile, window)

    assert [r.column for r in results] == ["age", "income", "clicks"]
    assert [r.drifted for r in results] == [False, True, False]
    with pytest.raises(InvalidInputError, match="another reference profile"):
        KSTest().check(ReferenceProfile.from_frame(window), Window(profile, window))


# --------------------------------------------------------------------------- not comparable


def test_an_empty_window_gives_a_report_that_is_not_evaluable(
    data: tuple[ReferenceProfile, pd.DataFrame, pd.DataFrame],
) -> None:
    profile, _, window = data

    report = check_drift(profile, window.iloc[:0])

    assert not report.evaluable
    assert report.reason == "empty window"
    assert report.results == ()
    assert report.drifted_columns == []
    assert report.to_dict()["reason"] == "empty window"


@pytest.mark.parametrize(
    ("change", "column", "reason"),
    [
        (lambda w: w.drop(columns="income"), "income", "missing from the window"),
        (
            lambda w: w.assign(income=pd.Series(["n/a"] * len(w), dtype=object)),
            "income",
            "expected numbers, got values such as 'n/a'",
        ),
        (
            lambda w: w.assign(income=w["income"].astype(str)),
            "income",
            "expected numbers, got values of dtype str",
        ),
        (
            lambda w: w.assign(plan=np.arange(len(w), dtype=float)),
            "plan",
            "expected categories, got values of dtype float64",
        ),
        (lambda w: w.assign(age=np.nan), "age", "all values are missing"),
        (lambda w: w.assign(plan=None), "plan", "all values are missing"),
    ],
)
def test_a_column_that_cannot_be_compared_is_marked_with_the_reason(
    data: tuple[ReferenceProfile, pd.DataFrame, pd.DataFrame],
    change: object,
    column: str,
    reason: str,
) -> None:
    profile, _, window = data

    report = check_drift(profile, change(window))  # type: ignore[operator]

    assert report.evaluable
    assert report.not_evaluable[column].startswith(reason)
    marked = [r for r in report.results if r.column == column]
    assert {r.test for r in marked} == (
        {"ks", "psi"} if column in ("age", "income") else {"chi2", "psi"}
    )
    assert all(r.statistic is None and r.p_value is None and not r.drifted for r in marked)
    # The other columns are still compared.
    assert report.result("clicks", "ks").evaluable


def test_numbers_held_in_an_object_column_are_compared_as_numbers(
    data: tuple[ReferenceProfile, pd.DataFrame, pd.DataFrame],
) -> None:
    profile, _, window = data
    as_objects = window.assign(age=pd.Series([*window["age"][:-1], None], dtype=object))

    report = check_drift(profile, as_objects, tests="ks")

    assert report.result("age", "ks").evaluable
    expected = check_drift(profile, window.assign(age=window["age"].where(window.index < 3_999)))
    assert report.result("age", "ks").statistic == expected.result("age", "ks").statistic


def test_constant_columns_give_finite_statistics() -> None:
    reference = pd.DataFrame({"x": [3.0] * 100, "c": ["a"] * 100})
    profile = ReferenceProfile.from_frame(reference)

    same = check_drift(profile, pd.DataFrame({"x": [3.0] * 20, "c": ["a"] * 20}))
    moved = check_drift(profile, pd.DataFrame({"x": [4.0] * 20, "c": ["b"] * 20}))

    for result in same.results:
        assert result.statistic == 0 and not result.drifted
    assert same.result("x", "ks").p_value == 1.0
    assert same.result("c", "chi2").p_value == 1.0
    assert moved.drifted_columns == ["x", "c"]
    assert all(math.isfinite(r.statistic or math.nan) for r in moved.results)
    assert moved.result("x", "ks").statistic == 1.0


def test_infinite_values_count_as_values() -> None:
    profile = ReferenceProfile.from_frame(pd.DataFrame({"x": [-np.inf, 1.0, 2.0, 3.0, np.inf]}))

    result = check_drift(profile, pd.DataFrame({"x": [np.inf] * 5}), tests=("ks", "psi"))

    assert result.result("x", "ks").statistic == pytest.approx(0.8)
    assert math.isfinite(result.result("x", "psi").statistic or math.nan)
    assert profile.columns["x"].count == 5


def test_a_reference_column_with_no_values_cannot_be_compared() -> None:
    profile = ReferenceProfile.from_frame(pd.DataFrame({"x": [np.nan] * 3, "y": [1.0, 2, 3]}))

    report = check_drift(profile, pd.DataFrame({"x": [1.0], "y": [2.0]}))

    assert report.not_evaluable == {"x": "the reference has no values in this column"}


# --------------------------------------------------------------------------- caller mistakes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tests": ("ks", "wasserstein")}, "unknown drift test 'wasserstein'; choose one of ks"),
        ({"tests": ("ks", KSTest())}, "'ks' is asked for twice"),
        ({"tests": ()}, "no drift tests given"),
        ({"alpha": 1.5}, "alpha must be a number between 0 and 1"),
        ({"alpha": float("nan")}, "alpha must be a number between 0 and 1"),
        ({"psi_threshold": -1}, "threshold must be a finite number above 0"),
    ],
)
def test_a_bad_request_is_refused(
    data: tuple[ReferenceProfile, pd.DataFrame, pd.DataFrame],
    kwargs: dict[str, object],
    message: str,
) -> None:
    profile, _, window = data

    with pytest.raises(InvalidInputError, match=message):
        check_drift(profile, window, **kwargs)  # type: ignore[arg-type]


def test_a_window_or_profile_of_the_wrong_type_is_refused(
    data: tuple[ReferenceProfile, pd.DataFrame, pd.DataFrame],
) -> None:
    profile, _, window = data

    with pytest.raises(InvalidInputError, match="must be a pandas DataFrame or a pyarrow Table"):
        check_drift(profile, window.to_numpy())
    with pytest.raises(InvalidInputError, match="expected a ReferenceProfile, got DataFrame"):
        check_drift(window, window)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reference", "kwargs", "message"),
    [
        (pd.DataFrame({"x": []}), {}, "the reference has no rows"),
        (pd.DataFrame({"x": [1.0]}), {"columns": ["y"]}, "no column 'y'; its columns: x"),
        (
            pd.DataFrame({"t": pd.date_range("2026-01-01", periods=3)}),
            {"columns": ["t"]},
            "column 't' has dtype datetime64",
        ),
        (pd.DataFrame({"t": pd.date_range("2026-01-01", periods=3)}), {}, "no numeric or"),
        (pd.DataFrame({"x": [1.0]}), {"bins": 1}, "bins must be a whole number >= 2"),
        (pd.DataFrame([[1, 2]], columns=["x", "x"]), {}, "more than one column named 'x'"),
    ],
)
def test_a_reference_that_cannot_be_profiled_is_refused(
    reference: pd.DataFrame, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        ReferenceProfile.from_frame(reference, **kwargs)  # type: ignore[arg-type]


def test_bytes_that_are_not_a_profile_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="not a reference profile"):
        ReferenceProfile.from_bytes(b"not a profile")
