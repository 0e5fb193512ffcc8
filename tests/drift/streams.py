"""The feature set and streams of the detection-quality tests."""

from __future__ import annotations

from typing import Any

from monitor.demo.traffic import FeatureSpec, MeanShift, NewCategory, SpreadChange, features_config

MODEL = "credit-risk"


def quality_features() -> list[FeatureSpec]:
    """20 numeric features of varied shapes and 3 categorical ones (5, 12 and 40 values)."""
    numeric = []
    for i in range(4):
        numeric.append(FeatureSpec.normal(f"normal_{i}", 10.0 * i, 1.0 + i, weight=0.2))
        numeric.append(FeatureSpec.lognormal(f"lognormal_{i}", 1.0 + i * 0.5, 0.4 + 0.1 * i))
        numeric.append(FeatureSpec.uniform(f"uniform_{i}", -i, 1.0 + 2 * i))
        numeric.append(FeatureSpec.exponential(f"exponential_{i}", 1.0 + i))
        numeric.append(FeatureSpec.poisson(f"count_{i}", 2.0 + 3 * i))
    categorical = [
        FeatureSpec.categorical("cat_5", {f"c{i}": 1.0 + i for i in range(5)}),
        FeatureSpec.categorical("cat_12", {f"k{i}": 1.0 + (i % 4) for i in range(12)}),
        FeatureSpec.categorical("cat_40", {f"v{i}": 1.0 + (i % 7) for i in range(40)}),
    ]
    return numeric + categorical


def drifts_at(start: int) -> list[Any]:
    """Half way: a normal feature's mean moves by 0.5 sd, a uniform feature's spread grows
    1.5x, and a categorical feature gains a new value at 15 % share."""
    return [
        MeanShift("normal_1", 0.5, start),
        SpreadChange("uniform_2", 1.5, start),
        NewCategory("cat_12", "brand-new", 0.15, start),
    ]


DRIFTED = {"normal_1", "uniform_2", "cat_12"}


def model_config(features: list[FeatureSpec], **extra: Any) -> dict[str, Any]:
    section = features_config(features)
    for entry in section.values():
        entry.pop("categories", None)  # a new category must be able to appear
    return {MODEL: {"features": section, **extra}}
