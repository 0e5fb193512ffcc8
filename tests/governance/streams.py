"""Shared pieces of the governance tests: a small drifting two-model stream and configs."""

from __future__ import annotations

from typing import Any

import msgspec

from monitor.replay import FileRecord
from tests.reliability.helpers import keyed_stream, model_section, models_for_partitions

MILLIS = 1_764_300_000_000

MODELS = models_for_partitions(2)
PER_MODEL = 4000
WARMUP = 1000
WINDOW = 250
# Decisions with a debt-to-income ratio above this go to review (the drift raises it).
REVIEW_ABOVE = 0.7


def guardrail(bound: float) -> list[dict[str, Any]]:
    return [
        {
            "name": "dti-high",
            "kind": "range",
            "feature": "debt_to_income",
            "max": bound,
            "action": "review",
        }
    ]


def models_config(bound: float = REVIEW_ABOVE, **policy: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {"guardrails": guardrail(bound)}
    if policy:
        extra["policy"] = policy
    section = model_section(MODELS, WARMUP, **extra)
    for model in section.values():
        model["windows"] = [{"type": "tumbling", "size": WINDOW}]
    return section


def messages(per_model: int = PER_MODEL) -> list[tuple[bytes, bytes]]:
    return keyed_stream(MODELS, per_model)


def as_records(topic: str, per_model: int = PER_MODEL) -> list[FileRecord]:
    """The stream as the daemon would read it: model *i* in partition *i*."""
    out, next_offset = [], [0, 0]
    for key, value in messages(per_model):
        partition = MODELS.index(key.decode())
        out.append(FileRecord(topic, partition, next_offset[partition], MILLIS, value, key))
        next_offset[partition] += 1
    return out


def decode(values: list[bytes]) -> list[dict[str, Any]]:
    return [msgspec.json.decode(v) for v in values]
