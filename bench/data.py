"""The benchmark's events and config: 20 numeric + 3 categorical features and a score.

Events are generated once, deterministically, and the same bytes are produced to the topic
that the bare client and driftd both consume. A drift (shifted numeric features, a new
dominant category) starts at ``drift_from`` so that windows after it raise alerts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import yaml

MODEL = "bench-model"
NUMERIC = [f"f{i:02d}" for i in range(20)]
CATEGORICAL = ["region", "channel", "segment"]
CATEGORIES = {
    "region": ["eu", "us", "apac", "latam", "africa"],
    "channel": ["web", "app", "branch", "partner"],
    "segment": ["retail", "smb", "corporate"],
}
BASE_TS = 1_764_300_000.0

_encode = msgspec.json.Encoder().encode


def events(count: int, start: int = 0, drift_from: int | None = None, seed: int = 7) -> list[bytes]:
    """``count`` encoded events numbered from ``start``; rows at or past ``drift_from`` drift."""
    rng = np.random.default_rng(seed + start)
    numeric = (rng.normal(0.0, 1.0, (count, len(NUMERIC))) * 100.0 + 500.0).round(4)
    picks = {name: rng.integers(0, len(v), count) for name, v in CATEGORIES.items()}
    scores = rng.beta(2.0, 5.0, count).round(6)
    out = []
    for i in range(count):
        number = start + i
        drifted = drift_from is not None and number >= drift_from
        row = numeric[i] + (60.0 if drifted else 0.0)
        features: dict[str, Any] = dict(zip(NUMERIC, row.tolist(), strict=True))
        for name, values in CATEGORIES.items():
            features[name] = values[0] if drifted and name == "region" else values[picks[name][i]]
        score = float(min(0.999, scores[i] + (0.3 if drifted else 0.0)))
        out.append(
            _encode(
                {
                    "id": f"e-{number:09d}",
                    "model": MODEL,
                    "version": "3",
                    "ts": BASE_TS + number * 0.01,
                    "features": features,
                    "prediction": {"score": score, "label": int(score >= 0.5)},
                }
            )
        )
    return out


def labels(numbers: range, seed: int = 11) -> list[bytes]:
    """Ground truth for some events (the error ADWIN's input)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, len(numbers))
    return [
        _encode(
            {"id": f"e-{n:09d}", "model": MODEL, "ts": BASE_TS + n * 0.01 + 1.0, "label": int(t)}
        )
        for n, t in zip(numbers, truth.tolist(), strict=True)
    ]


def guardrails() -> list[dict[str, Any]]:
    """Ten rules of every kind, as a production config would have."""
    return [
        {
            "name": "f00-range",
            "kind": "range",
            "feature": "f00",
            "min": 0,
            "max": 1000,
            "action": "review",
        },
        {
            "name": "f01-range",
            "kind": "range",
            "feature": "f01",
            "min": 0,
            "max": 1000,
            "action": "alert",
        },
        {"name": "f02-cap", "kind": "range", "feature": "f02", "max": 2000, "action": "block"},
        {
            "name": "complete",
            "kind": "required",
            "features": ["f00", "f01", "region"],
            "action": "block",
        },
        {"name": "has-channel", "kind": "required", "features": ["channel"], "action": "alert"},
        {"name": "region-known", "kind": "categories", "feature": "region", "action": "review"},
        {"name": "uncertain", "kind": "score_band", "low": 0.495, "high": 0.5, "action": "review"},
        {
            "name": "extreme",
            "kind": "score_band",
            "low": 0.0001,
            "high": 0.9999,
            "outside": True,
            "action": "alert",
        },
        {
            "name": "low-f03-confident",
            "kind": "expression",
            "expression": "features.f03 < 150 and prediction.score > 0.99",
            "action": "block",
        },
        {
            "name": "approval-rate",
            "kind": "aggregate",
            "statistic": "positive_rate",
            "window": 5000,
            "min": 0.0,
            "max": 0.9,
        },
    ]


def config(bootstrap: str, topics: dict[str, str], group: str, port: int) -> dict[str, Any]:
    """The default config's detectors, windows of 5 000, ADWIN on score and error, 10 rules."""
    features: dict[str, Any] = {name: {"type": "numeric"} for name in NUMERIC}
    for name, values in CATEGORIES.items():
        features[name] = {"type": "categorical", "categories": values}
    return {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "consumer": {
                "group_id": group,
                "session_timeout_ms": 6000,
                "heartbeat_interval_ms": 1000,
                "max_poll_interval_ms": 30000,
            },
        },
        "topics": {
            "features": topics["features"],
            "predictions": topics["predictions"],
            "labels": topics["labels"],
            "alerts": topics["alerts"],
            "review": topics["review"],
            "dead_letter": topics["dead_letter"],
        },
        "server": {"enabled": False},
        "logging": {"format": "json", "level": "warning"},
        "models": {
            MODEL: {
                "features": features,
                "windows": [{"type": "tumbling", "size": 5000}],
                "detectors": {
                    "numeric": ["ks", "psi"],
                    "categorical": ["chi2", "psi"],
                    "score": ["ks", "psi"],
                },
                "concept": {"error": {"type": "adwin"}, "score": {"type": "adwin"}},
                "policy": {"consecutive_windows": 1, "resolve_after": 1},
                "guardrails": guardrails(),
            }
        },
    }


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
