"""Configs and events for the guardrail tests."""

from __future__ import annotations

from typing import Any

import yaml

from monitor.config import ModelConfig
from monitor.config_loader import parse_config
from monitor.events import Event
from monitor.guardrails import DecisionBatch, Guardrails

MODEL = "credit-risk"

FEATURES: dict[str, Any] = {
    "income": {"type": "numeric", "required": True, "range": [0, 10_000_000]},
    "age": {"type": "numeric", "range": [18, 120]},
    "debt-ratio": {"type": "numeric"},
    "region": {"type": "categorical", "required": True, "categories": ["eu", "us"]},
    "channel": {"type": "categorical"},
}


def config_text(rules: list[dict[str, Any]], features: dict[str, Any] | None = None) -> str:
    model = {"features": features or FEATURES, "guardrails": rules}
    return yaml.safe_dump({"models": {MODEL: model}}, sort_keys=False)


def model_config(
    rules: list[dict[str, Any]], features: dict[str, Any] | None = None
) -> ModelConfig:
    return parse_config(config_text(rules, features)).models[MODEL]


def guardrails(rules: list[dict[str, Any]], features: dict[str, Any] | None = None) -> Guardrails:
    return Guardrails(MODEL, model_config(rules, features))


def event(
    index: int,
    features: dict[str, Any] | None = None,
    score: float | None = None,
    label: Any = None,
    version: str | None = "3",
    prediction: bool = True,
) -> Event:
    values: dict[str, Any] | None = None
    if prediction:
        values = {}
        if score is not None:
            values["score"] = score
        if label is not None:
            values["label"] = label
    return Event(MODEL, f"e{index}", 1.7e9 + index, version, features, values, None, "t", 0, index)


def batch(rails: Guardrails, events: list[Event]) -> DecisionBatch:
    return DecisionBatch.from_events(events, rails.model_config)
