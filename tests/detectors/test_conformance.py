"""One suite, every detector: the contract all detectors share.

Each detector class provides ``_unit_test_params()`` (constructor kwargs of small valid
instances whose reference is N(0, 1) for numeric detectors, or the given category counts for
categorical ones) and ``_invalid_params()`` (kwargs that must raise ``ValueError``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pytest

import detectors
from detectors import DETECTORS, DriftResult

DETECTOR_CLASSES = sorted(set(DETECTORS.values()), key=lambda cls: cls.__name__)
CASES = [
    pytest.param(cls, params, id=f"{cls.__name__}-{index}")
    for cls in DETECTOR_CLASSES
    for index, params in enumerate(cls._unit_test_params())
]
INVALID_CASES = [
    pytest.param(cls, params, id=f"{cls.__name__}-invalid-{index}")
    for cls in DETECTOR_CLASSES
    for index, params in enumerate(cls._invalid_params())
]
N_CURRENT = 5_000


def _reference_shares(detector: Any) -> np.ndarray:
    counts = np.asarray(detector.reference_counts, dtype=float)
    return counts / counts.sum()


def same_distribution_sample(detector: Any, seed: int = 1) -> np.ndarray:
    """A fresh sample from the distribution the detector's reference came from."""
    rng = np.random.default_rng(seed)
    if detector.input_kind == "numeric":
        return rng.normal(0.0, 1.0, N_CURRENT)
    shares = _reference_shares(detector)
    return rng.choice(shares.size, size=N_CURRENT, p=shares)


def shifted_sample(detector: Any, seed: int = 2) -> np.ndarray:
    """A sample that every detector must call drifted with its unit-test parameters."""
    rng = np.random.default_rng(seed)
    if detector.input_kind == "numeric":
        return rng.normal(1.0, 1.0, N_CURRENT)
    # Reverse the category shares and send 10% of the mass to the unseen bucket (code K).
    shares = _reference_shares(detector)[::-1]
    shifted = np.append(0.9 * shares, 0.1)
    return rng.choice(shifted.size, size=N_CURRENT, p=shifted)


def build(cls: Any, params: dict[str, Any]) -> Any:
    return cls(**params)


@pytest.mark.parametrize(("cls", "params"), CASES)
def test_same_distribution_is_not_drifted(cls: Any, params: dict[str, Any]) -> None:
    detector = build(cls, params)
    result = detector.test(same_distribution_sample(detector))
    assert isinstance(result, DriftResult)
    assert result.test == cls.test_name
    assert not result.effect_exceeded
    assert not result.drifted
    assert result.n_current == N_CURRENT


@pytest.mark.parametrize(("cls", "params"), CASES)
def test_shifted_distribution_is_drifted(cls: Any, params: dict[str, Any]) -> None:
    detector = build(cls, params)
    result = detector.test(shifted_sample(detector))
    assert result.effect_exceeded
    assert result.drifted
    assert result.statistic >= result.threshold


@pytest.mark.parametrize(("cls", "params"), CASES)
def test_constructor_arguments_are_public_attributes(cls: Any, params: dict[str, Any]) -> None:
    detector = build(cls, params)
    for name, value in params.items():
        stored = getattr(detector, name)
        if isinstance(value, list | np.ndarray):
            np.testing.assert_array_equal(stored, value)
        else:
            assert stored == value, name


@pytest.mark.parametrize(("cls", "params"), INVALID_CASES)
def test_invalid_arguments_raise_value_error(cls: Any, params: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        cls(**params)


@pytest.mark.parametrize(("cls", "params"), CASES)
def test_state_round_trip_gives_identical_results(cls: Any, params: dict[str, Any]) -> None:
    detector = build(cls, params)
    state = detector.to_state()
    assert state["type"] == cls.state_type
    assert state["state_version"] == 1
    # allow_nan=False: the state must be strict JSON (no NaN/Infinity).
    restored_state = json.loads(json.dumps(state, allow_nan=False))
    for restored in (cls.from_state(restored_state), detectors.from_state(restored_state)):
        assert type(restored) is cls
        for sample in (same_distribution_sample(detector), shifted_sample(detector)):
            assert restored.test(sample) == detector.test(sample)
        assert restored.to_state() == restored_state


@pytest.mark.parametrize(("cls", "params"), CASES)
def test_result_to_dict_is_json_serialisable(cls: Any, params: dict[str, Any]) -> None:
    detector = build(cls, params)
    for sample in (same_distribution_sample(detector), shifted_sample(detector)):
        result = detector.test(sample)
        as_dict = result.to_dict()
        assert json.loads(json.dumps(as_dict, allow_nan=False)) == as_dict
        assert set(as_dict) == {field.name for field in dataclasses.fields(DriftResult)}
        assert result.drifted == (
            result.effect_exceeded
            and (result.p_value is None or result.p_value < (result.alpha or 0.0))
        )


@pytest.mark.parametrize(("cls", "params"), CASES)
def test_inputs_are_not_mutated(cls: Any, params: dict[str, Any]) -> None:
    originals = {
        name: np.array(value, copy=True)
        for name, value in params.items()
        if isinstance(value, list | np.ndarray)
    }
    detector = build(cls, params)
    for name, original in originals.items():
        np.testing.assert_array_equal(params[name], original)
    sample = shifted_sample(detector)
    if detector.input_kind == "numeric":
        sample = sample[::-1]  # unsorted, so an in-place sort would show
        sample[::7] = np.nan
    before = sample.copy()
    detector.test(sample)
    np.testing.assert_array_equal(sample, before)


@pytest.mark.parametrize(("cls", "params"), CASES)
def test_unusable_current_raises_value_error(cls: Any, params: dict[str, Any]) -> None:
    detector = build(cls, params)
    if detector.input_kind == "numeric":
        bad_inputs: list[Any] = [[], [np.nan, np.inf], np.ones((2, 2))]
    else:
        k = detector.n_categories
        bad_inputs = [[], [0, -1], [0, k + 1], [0.5], np.zeros((2, 2), dtype=int)]
    for bad in bad_inputs:
        with pytest.raises(ValueError):
            detector.test(bad)


def test_every_detector_is_covered() -> None:
    assert {cls.state_type for cls in DETECTOR_CLASSES} == set(DETECTORS)
    for cls in DETECTOR_CLASSES:
        assert list(cls._unit_test_params())
        assert list(cls._invalid_params())


NUMERIC_CASES = [
    pytest.param(cls, params, id=f"{cls.__name__}-{index}")
    for cls in DETECTOR_CLASSES
    if cls.input_kind == "numeric"
    for index, params in enumerate(cls._unit_test_params())
]


@pytest.mark.parametrize(("cls", "params"), NUMERIC_CASES)
def test_a_prepared_sample_gives_the_result_of_the_raw_window(
    cls: Any, params: dict[str, Any]
) -> None:
    detector = build(cls, params)
    for drawn in (same_distribution_sample(detector), shifted_sample(detector)):
        window = drawn[::-1].copy()  # unsorted, with missing values
        window[::11] = np.nan
        sample = detectors.CurrentSample(window)
        assert detector.test(sample) == detector.test(window)
        # The sample serves any number of tests, and no test changes it.
        before = sample.sorted.copy()
        assert detector.test(sample) == detector.test(window)
        np.testing.assert_array_equal(sample.sorted, before)
        assert sample.missing == int(np.isnan(window).sum())


def test_a_prepared_sample_refuses_what_a_test_refuses() -> None:
    for bad in ([], [np.nan, np.inf], np.ones((2, 2))):
        with pytest.raises(ValueError):
            detectors.CurrentSample(bad)
