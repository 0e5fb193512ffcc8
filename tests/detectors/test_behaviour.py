"""Documented behaviours that the shared conformance suite does not pin down."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import detectors
from detectors import (
    CategoricalJensenShannonTest,
    CategoricalPSITest,
    ChiSquareTest,
    DriftResult,
    JensenShannonTest,
    KSTest,
    PSITest,
    WassersteinTest,
)


def test_binned_edges_keep_a_bin_for_ties_at_the_minimum() -> None:
    reference = np.array([0.0] * 70 + [1.0] * 30)  # 0/1 feature: most quantiles tie at 0
    detector = PSITest(reference)
    # Quantiles use numpy's default linear interpolation, hence the (empty) 0.3 edge.
    np.testing.assert_allclose(detector.bin_edges, [-np.inf, 0.0, 0.3, 1.0, np.inf])
    np.testing.assert_allclose(detector.bin_proportions, [0.0, 0.7, 0.0, 0.3])
    assert detector.test(np.array([0.0] * 30 + [1.0] * 70)).drifted


def test_constant_reference_gets_two_bins() -> None:
    detector = JensenShannonTest(np.full(50, 2.0))
    np.testing.assert_array_equal(detector.bin_edges, [-np.inf, 2.0, np.inf])
    assert detector.test(np.full(10, 2.0)).statistic == 0.0
    assert detector.test(np.full(10, 1.0)).statistic == pytest.approx(1.0)


def test_value_on_an_edge_falls_in_the_upper_bin() -> None:
    detector = PSITest(edges=[-np.inf, 0.0, np.inf], reference_proportions=[0.5, 0.5])
    result = detector.test(np.zeros(10))
    bins = {entry["bin"]: entry for entry in result.explanation["bins"]}
    assert (bins[1]["lower"], bins[1]["upper"], bins[1]["current_share"]) == (0.0, None, 1.0)
    assert (bins[0]["lower"], bins[0]["upper"], bins[0]["current_share"]) == (None, 0.0, 0.0)


def test_finite_outer_edges_are_treated_as_open() -> None:
    detector = PSITest(edges=[0.0, 1.0, 2.0], reference_proportions=[0.5, 0.5])
    assert detector.edges is not None
    np.testing.assert_array_equal(detector.edges, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(detector.bin_edges, [-np.inf, 1.0, np.inf])
    assert detector.test(np.array([-5.0, 5.0])).statistic == 0.0


@pytest.mark.parametrize(("shift", "severity"), [(0.0, "none"), (0.35, "moderate"), (1.0, "major")])
def test_psi_severity(shift: float, severity: str) -> None:
    rng = np.random.default_rng(5)
    detector = PSITest(rng.normal(0, 1, 10_000))
    result = detector.test(rng.normal(shift, 1, 5_000))
    assert result.explanation["severity"] == severity
    assert result.drifted == (severity != "none")
    assert result.threshold == 0.1


def test_profile_round_trip_from_a_sample() -> None:
    rng = np.random.default_rng(6)
    reference, current = rng.normal(0, 1, 2_000), rng.normal(0.3, 1, 1_000)
    from_sample = PSITest(reference, bins=8)
    from_profile = PSITest(
        edges=from_sample.bin_edges,
        reference_proportions=from_sample.bin_proportions,
        reference_size=reference.size,
    )
    sample_result, profile_result = from_sample.test(current), from_profile.test(current)
    assert profile_result.statistic == sample_result.statistic
    assert profile_result.n_reference == sample_result.n_reference == 2_000
    assert profile_result.explanation["reference"] is None  # no sample, no summary
    assert PSITest(edges=[0, 1, 2], reference_proportions=[0.5, 0.5]).test([1.0]).n_reference == 0


@pytest.mark.parametrize("cls", [KSTest, WassersteinTest, PSITest, JensenShannonTest])
def test_non_finite_current_values_are_counted_as_missing(cls: Any) -> None:
    rng = np.random.default_rng(8)
    detector = cls(rng.normal(0, 1, 1_000))
    current = rng.normal(0, 1, 500)
    current[:7] = [np.nan, np.inf, -np.inf, np.nan, np.nan, np.nan, np.nan]
    result = detector.test(current)
    assert result.explanation["current_missing"] == 7
    assert result.n_current == 493
    assert result.statistic == detector.test(current[7:]).statistic
    assert set(result.explanation["current"]) == {"mean", "std", "p05", "p25", "p50", "p75", "p95"}


@pytest.mark.parametrize("cls", [CategoricalPSITest, CategoricalJensenShannonTest, ChiSquareTest])
def test_unseen_categories_are_reported(cls: Any) -> None:
    detector = cls([50, 50])
    result = detector.test([0, 1, 2, 2, 2, 2, 0, 1])
    assert result.explanation["current_unseen"] == 4
    top = result.explanation["categories"][0]
    assert top == {**top, "category": 2, "unseen": True, "reference_share": 0.0}
    assert len(result.explanation["categories"]) <= 5


def test_top_contributors_are_capped_at_five() -> None:
    detector = CategoricalPSITest(np.arange(1, 11) * 10)
    result = detector.test(np.repeat(np.arange(10), np.arange(10, 0, -1) * 10))
    contributions = [entry["contribution"] for entry in result.explanation["categories"]]
    assert len(contributions) == 5
    assert contributions == sorted(contributions, reverse=True)


@pytest.mark.parametrize(("reference", "current"), [([10], [5, 0]), ([10, 0], [3, 0, 0])])
def test_chi2_single_non_empty_column_is_degenerate(reference: list[int], current: list[int]):
    result = ChiSquareTest(reference).test_counts(current)
    assert (result.statistic, result.p_value, result.drifted) == (0.0, 1.0, False)
    assert result.explanation["cramers_v"] == 0.0


def test_chi2_significant_but_small_effect_is_not_drifted() -> None:
    detector = ChiSquareTest([500_000, 500_000])
    result = detector.test_counts([255_000, 245_000, 0])
    assert result.p_value is not None and result.p_value < 1e-6
    assert result.explanation["cramers_v"] < 0.1
    assert not result.effect_exceeded and not result.drifted


def test_ks_significant_but_small_effect_is_not_drifted() -> None:
    rng = np.random.default_rng(9)
    detector = KSTest(rng.normal(0, 1, 10_000))
    result = detector.test(rng.normal(0.15, 1, 5_000))
    assert result.p_value is not None and result.p_value < 1e-6
    assert not result.effect_exceeded and not result.drifted


def test_ks_single_values_give_p_value_one() -> None:
    result = KSTest([0.0]).test([1.0])
    assert (result.statistic, result.p_value) == (1.0, 1.0)


def test_from_state_rejects_unknown_type_and_version() -> None:
    state = KSTest([1.0, 2.0]).to_state()
    with pytest.raises(ValueError):
        detectors.from_state({**state, "type": "nope"})
    with pytest.raises(ValueError):
        detectors.from_state({**state, "state_version": 2})
    with pytest.raises(ValueError):
        WassersteinTest.from_state(state)


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        detectors.DETECTORS["x"] = KSTest  # type: ignore[index]


def test_result_requires_alpha_with_p_value() -> None:
    with pytest.raises(ValueError):
        DriftResult.create(
            test="ks",
            statistic=0.2,
            p_value=0.01,
            alpha=None,
            threshold=0.1,
            effect_exceeded=True,
            n_reference=1,
            n_current=1,
            explanation={},
        )


def test_result_to_dict_is_a_copy() -> None:
    result = CategoricalPSITest([1, 1]).test([0, 2])
    result.to_dict()["explanation"]["categories"].clear()
    assert result.explanation["categories"]


@pytest.mark.parametrize("cls", [KSTest, WassersteinTest, PSITest, JensenShannonTest])
def test_sentinel_sized_values_keep_results_json_safe(cls: Any) -> None:
    detector = cls(np.linspace(-1.0, 1.0, 100))
    as_dict = detector.test(np.array([-1e300, 0.0, 1e300, 1e300])).to_dict()
    json.dumps(as_dict, allow_nan=False)
    assert as_dict["explanation"]["current"]["std"] is None
