"""Reference profiles: statistics against independent computations, the reservoir sample,
the file format (round trip, corruption, versions) and the configuration check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from detectors import CategoricalPSITest, ChiSquareTest, KSTest, PSITest
from monitor.config_loader import parse_config
from monitor.errors import ProfileError
from monitor.profile import (
    QUANTILES,
    CategoricalProfile,
    NumericProfile,
    Profile,
    ProfileMismatchError,
    check_profile,
    content_hash,
    load_profile,
    profile_to_dict,
    save_profile,
)
from monitor.profile_builder import ProfileBuilder

CREATED = "2026-01-01T00:00:00Z"


def build(
    columns: dict[str, Any],
    kinds: dict[str, Any],
    score: str | None = None,
    chunk: int | None = None,
    **options: Any,
) -> Profile:
    builder = ProfileBuilder("credit", "3", kinds, score, **options)
    rows = len(next(iter(columns.values())))
    step = chunk or rows
    for start in range(0, rows, step):
        builder.update({name: values[start : start + step] for name, values in columns.items()})
    return builder.finish(source_path="train.csv", source_format="csv", created_at=CREATED)


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    rng = np.random.default_rng(11)
    n = 30_000
    income = rng.lognormal(10.0, 0.5, n)
    income[rng.random(n) < 0.02] = np.nan
    income[7] = np.inf  # non-finite counts as missing
    region = rng.choice(["eu", "us", "apac", "latam"], n, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    region[rng.random(n) < 0.05] = None
    return {"income": income, "region": region.tolist(), "score": rng.beta(2, 5, n)}


@pytest.fixture(scope="module")
def profile(data: dict[str, Any]) -> Profile:
    kinds = {"income": "numeric", "region": "categorical"}
    return build(data, kinds, "score", chunk=7_000, sample_size=5_000)


def test_numeric_statistics_match_numpy(data: dict[str, Any], profile: Profile) -> None:
    income = profile.features["income"]
    assert isinstance(income, NumericProfile)
    finite = data["income"][np.isfinite(data["income"])]
    assert income.count == finite.size
    assert income.missing == data["income"].size - finite.size
    assert income.missing_share == pytest.approx(income.missing / data["income"].size)
    assert income.mean == pytest.approx(np.mean(finite), rel=1e-12)
    assert income.std == pytest.approx(np.std(finite), rel=1e-10)
    assert (income.min, income.max) == (finite.min(), finite.max())
    assert income.sample.size == 5_000
    assert np.all(np.diff(income.sample) >= 0)
    levels = [float(q) for q in QUANTILES]
    assert list(income.quantiles.values()) == np.quantile(income.sample, levels).tolist()
    detector = PSITest(income.sample, bins=10)
    assert np.array_equal(income.bin_edges, detector.bin_edges[1:-1])
    assert np.array_equal(income.bin_proportions, detector.bin_proportions)
    assert profile.score is not None and profile.score.count == data["score"].size


def test_moments_are_accurate_far_from_zero() -> None:
    rng = np.random.default_rng(2)
    values = 1e9 + rng.normal(0.0, 1.0, 200_000)
    exact = values.astype(np.longdouble)
    feature = build({"x": values}, {"x": "numeric"}, chunk=30_000).features["x"]
    assert isinstance(feature, NumericProfile)
    assert feature.mean == pytest.approx(float(exact.mean()), rel=1e-15)
    assert feature.std == pytest.approx(float(exact.std()), rel=1e-9)


def test_an_overflowing_std_is_null() -> None:
    # Sentinels such as 1e300 are finite, but their squares are not.
    feature = build({"x": [1e300, -1e300, 1e300, 0.0]}, {"x": "numeric"}).features["x"]
    assert isinstance(feature, NumericProfile)
    assert feature.std is None and feature.mean == 2.5e299 and feature.max == 1e300


def test_the_result_does_not_depend_on_chunking(data: dict[str, Any], profile: Profile) -> None:
    kinds = {"income": "numeric", "region": "categorical"}
    whole = build(data, kinds, "score", sample_size=5_000)
    assert whole.content_hash == profile.content_hash
    assert build(data, kinds, "score", chunk=999, sample_size=5_000) == profile


def test_reservoir_is_deterministic_per_seed_and_capped(data: dict[str, Any]) -> None:
    def sample(seed: int, size: int = 1_000) -> np.ndarray:
        feature = build(data, {"income": "numeric"}, seed=seed, sample_size=size)
        assert isinstance(feature.features["income"], NumericProfile)
        return feature.features["income"].sample

    assert np.array_equal(sample(1), sample(1))
    assert not np.array_equal(sample(1), sample(2))
    assert sample(1).size == 1_000
    finite = data["income"][np.isfinite(data["income"])]
    assert np.array_equal(sample(1, size=50_000), np.sort(finite))  # small data: everything


def test_reservoir_is_a_uniform_sample(data: dict[str, Any], profile: Profile) -> None:
    income = profile.features["income"]
    assert isinstance(income, NumericProfile)
    finite = data["income"][np.isfinite(data["income"])]
    assert stats.ks_2samp(income.sample, finite).pvalue > 0.01
    standard_error = np.std(finite) / np.sqrt(income.sample.size)
    assert abs(np.mean(income.sample) - np.mean(finite)) < 4 * standard_error
    # Every row is equally likely to be kept, whatever its position and chunk.
    inclusions = np.zeros(40)
    for seed in range(400):
        kept = build({"x": np.arange(40.0)}, {"x": "numeric"}, chunk=7, seed=seed, sample_size=8)
        assert isinstance(kept.features["x"], NumericProfile)
        inclusions[kept.features["x"].sample.astype(int)] += 1
    assert stats.chisquare(inclusions).pvalue > 0.001


def test_samples_of_columns_come_from_the_same_rows() -> None:
    x = np.random.default_rng(4).normal(size=20_000)
    profile = build({"x": x, "y": 3 * x}, {"x": "numeric", "y": "numeric"}, sample_size=500)
    x_profile, y_profile = profile.features["x"], profile.features["y"]
    assert isinstance(x_profile, NumericProfile) and isinstance(y_profile, NumericProfile)
    assert np.array_equal(3 * x_profile.sample, y_profile.sample)


def test_categorical_counts_order_and_missing(data: dict[str, Any], profile: Profile) -> None:
    region = profile.features["region"]
    assert isinstance(region, CategoricalProfile)
    values, counts = np.unique([v for v in data["region"] if v is not None], return_counts=True)
    order = np.lexsort((values, -counts))
    assert region.categories == tuple(values[order])
    assert region.counts.tolist() == counts[order].tolist()
    assert region.missing == data["region"].count(None)
    assert region.other_count == 0 and region.count == counts.sum()


def test_categories_beyond_the_limit_are_folded() -> None:
    values = ["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"] * 2 + ["e"]
    feature = build({"c": values}, {"c": "categorical"}, max_categories=3).features["c"]
    assert isinstance(feature, CategoricalProfile)
    assert feature.categories == ("a", "b", "c")  # ties broken by value
    assert feature.counts.tolist() == [5, 3, 3]
    assert (feature.other_count, feature.count) == (3, 14)


def test_categories_are_spelled_like_the_daemon_spells_them() -> None:
    values = [True, 1, 1.0, 2.5, "x", None, float("nan"), False, 7]
    feature = build({"c": values}, {"c": "categorical"}).features["c"]
    assert isinstance(feature, CategoricalProfile)
    assert dict(zip(feature.categories, feature.counts.tolist(), strict=True)) == {
        "1": 2,
        "2.5": 1,
        "7": 1,
        "false": 1,
        "true": 1,
        "x": 1,
    }
    assert feature.missing == 2
    as_array = build({"c": np.array([1.0, np.nan, 2.0, 1.0])}, {"c": "categorical"})
    assert as_array.features["c"].missing == 1
    assert as_array.features["c"].categories == ("1", "2")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["1.5", None, "abc"], "numeric column 'x': row 3 holds 'abc', not a number"),
        ([1.0, True], "numeric column 'x': row 2 holds True, not a number"),
        ([1.0, {"a": 1}], "row 2 holds {'a': 1}"),
    ],
)
def test_values_that_are_not_numbers_are_named(values: list[Any], message: str) -> None:
    with pytest.raises(ProfileError, match=message.replace("(", r"\(").replace("{", r"\{")):
        build({"x": values}, {"x": "numeric"})


def test_a_column_without_values_cannot_be_profiled() -> None:
    columns = {"x": [None, np.nan], "c": [None, None], "ok": [1.0, 2.0]}
    with pytest.raises(ProfileError, match=r"no values in column 'x', 'c' \(all 2 rows missing"):
        build(columns, {"x": "numeric", "c": "categorical", "ok": "numeric"})


def test_builder_rejects_inconsistent_chunks_and_settings() -> None:
    builder = ProfileBuilder("m", None, {"x": "numeric", "y": "numeric"})
    with pytest.raises(ValueError, match="absent"):
        builder.update({"x": [1.0]})
    with pytest.raises(ValueError, match="one length"):
        builder.update({"x": [1.0], "y": [1.0, 2.0]})
    with pytest.raises(ValueError, match="bins"):
        ProfileBuilder("m", None, {"x": "numeric"}, bins=1)
    with pytest.raises(ValueError, match="also listed"):
        ProfileBuilder("m", None, {"x": "numeric"}, score_column="x")


# -- the file --------------------------------------------------------------------------------


def test_round_trip(profile: Profile, tmp_path: Path) -> None:
    path = tmp_path / "credit.profile.json"
    save_profile(profile, path)
    loaded = load_profile(path)
    assert loaded == profile
    assert loaded.content_hash == profile.content_hash == content_hash(profile_to_dict(loaded))
    assert loaded.source.path == "train.csv" and loaded.settings.sample_size == 5_000
    income = loaded.features["income"]
    assert isinstance(income, NumericProfile) and not income.sample.flags.writeable
    lines = path.read_text().splitlines()
    assert lines[1] == '  "format": "driftd.profile",'
    assert sum(line.startswith('    "') for line in lines) == 2  # one line per feature
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary file is gone


def rewrite(path: Path, change: Any, rehash: bool = False) -> None:
    document = json.loads(path.read_text())
    change(document)
    if rehash:
        document["content_hash"] = content_hash(document)
    path.write_text(json.dumps(document))


def test_an_edited_number_is_a_hash_mismatch(profile: Profile, tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    save_profile(profile, path)
    text = path.read_text()
    count = profile.features["income"].count
    path.write_text(text.replace(f'"count":{count},', f'"count":{count + 1},', 1))
    with pytest.raises(ProfileError, match=f"profile {path} is corrupt or was edited") as info:
        load_profile(path)
    assert "\n" not in str(info.value)


def test_truncated_missing_and_foreign_files(profile: Profile, tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    save_profile(profile, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ProfileError, match=f"profile {path} is not valid JSON"):
        load_profile(path)
    with pytest.raises(ProfileError, match=r"nowhere\.json does not exist"):
        load_profile(tmp_path / "nowhere.json")
    path.write_text('{"model": "credit"}')
    with pytest.raises(ProfileError, match="is not a driftd profile"):
        load_profile(path)
    with pytest.raises(ProfileError, match="cannot read profile"):
        load_profile(tmp_path)


def test_other_format_versions_are_refused(profile: Profile, tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    save_profile(profile, path)
    rewrite(path, lambda d: d.update(format_version=2), rehash=True)
    with pytest.raises(ProfileError, match=r"has format_version 2; this driftd .* reads version 1"):
        load_profile(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["features"]["income"].update(sample=[2.0, 1.0]), "features.income: sample"),
        (lambda d: d["features"]["income"].update(mean="high"), r"features.income: .*\$.mean"),
        (lambda d: d["features"]["region"].update(kind="text"), "features.region: kind"),
        (lambda d: d["features"]["region"].update(counts=[1]), "features.region: counts"),
        (lambda d: d.pop("settings"), "missing field 'settings'"),
        (lambda d: d.update(model=5), "model: Expected `str`, got `int`"),
        (
            lambda d: d["source"].update(rows="many"),
            r"source: Expected `int`, got `str` - at `\$.rows`",
        ),
        (lambda d: d.update(score=d["features"]["region"]), "score must be numeric"),
    ],
)
def test_malformed_fields_are_named(
    profile: Profile, tmp_path: Path, change: Any, message: str
) -> None:
    path = tmp_path / "p.json"
    save_profile(profile, path)
    rewrite(path, change, rehash=True)
    with pytest.raises(ProfileError, match=f"profile {path} is malformed: {message}"):
        load_profile(path)


def test_unwritable_destination(profile: Profile, tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot write profile"):
        save_profile(profile, tmp_path / "no" / "such" / "dir.json")


# -- configuration check -------------------------------------------------------------------


CONFIG = """
models:
  credit:
    features:
      income: {type: numeric}
      region: {type: numeric}
      age: {type: numeric}
"""


def test_check_profile_lists_every_mismatch(profile: Profile) -> None:
    model = parse_config(CONFIG).models["credit"]
    with pytest.raises(ProfileMismatchError) as info:
        check_profile(profile, "fraud", model, version="4")
    assert info.value.problems == [
        "it is a profile of model 'credit'",
        "it is a profile of version '3', not '4'",
        "feature 'region' is numeric in the config but categorical in the profile",
        "feature 'age' is not in the profile",
    ]
    assert str(info.value).startswith("profile does not match model 'fraud': it is a profile")


def test_check_profile_accepts_a_matching_profile(profile: Profile) -> None:
    config = parse_config(CONFIG.replace("region: {type: numeric}", "region: {type: categorical}"))
    model = config.models["credit"].model_copy(update={"features": {}})
    check_profile(profile, "credit", model, version="3")  # extra profile features are fine
    model = parse_config(CONFIG.replace("      age: {type: numeric}\n", "")).models["credit"]
    with pytest.raises(ProfileError, match="'region' is numeric in the config"):
        check_profile(profile, "credit", model)


# -- detectors built from a profile ----------------------------------------------------------


def test_detectors_from_a_loaded_profile_match_the_raw_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(21)
    raw = rng.gamma(2.0, 2.0, 4_000)  # smaller than the sample size: the sample is all of it
    labels = rng.choice(["a", "b", "c"], 4_000, p=[0.6, 0.3, 0.1]).tolist()
    save_profile(
        build({"x": raw, "c": labels}, {"x": "numeric", "c": "categorical"}), tmp_path / "p"
    )
    loaded = load_profile(tmp_path / "p")
    numeric, categorical = loaded.features["x"], loaded.features["c"]
    assert isinstance(numeric, NumericProfile) and isinstance(categorical, CategoricalProfile)

    current = rng.gamma(2.2, 2.0, 1_500)
    from_raw = PSITest(raw, bins=10).test(current)
    from_profile = PSITest(
        edges=numeric.psi_edges,
        reference_proportions=numeric.bin_proportions,
        reference_size=numeric.sample.size,
    ).test(current)
    assert (from_profile.statistic, from_profile.n_reference) == (
        from_raw.statistic,
        from_raw.n_reference,
    )
    assert from_profile.drifted == from_raw.drifted
    assert KSTest(numeric.sample).test(current) == KSTest(raw).test(current)

    codes = {category: code for code, category in enumerate(categorical.categories)}
    current_labels = rng.choice(["a", "b", "c", "new"], 800, p=[0.5, 0.3, 0.15, 0.05])
    current_codes = [codes.get(label, len(codes)) for label in current_labels]
    raw_counts = [labels.count(category) for category in categorical.categories]
    assert ChiSquareTest(categorical.counts).test(current_codes) == ChiSquareTest(raw_counts).test(
        current_codes
    )
    assert CategoricalPSITest(categorical.counts).test(current_codes) == CategoricalPSITest(
        raw_counts
    ).test(current_codes)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)), min_size=1, max_size=300),
    st.integers(1, 50),
)
def test_any_chunking_gives_numpy_statistics(values: list[float | None], chunk: int) -> None:
    finite = np.array([v for v in values if v is not None])
    if finite.size == 0:
        return
    feature = build({"x": values}, {"x": "numeric"}, chunk=chunk, sample_size=100).features["x"]
    assert isinstance(feature, NumericProfile)
    assert feature.count == finite.size and feature.missing == len(values) - finite.size
    assert feature.mean == pytest.approx(np.mean(finite), rel=1e-9, abs=1e-6)
    assert feature.std == pytest.approx(np.std(finite), rel=1e-6, abs=1e-6)
    assert feature.sample.size == min(100, finite.size)
    assert set(feature.sample.tolist()) <= set(finite.tolist())
