"""Hostile input messages, built through a small drawing interface so that the same
builders serve hypothesis (shrinkable draws) and a seeded ``random.Random`` (for the
batch sent through the real broker)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")

MODEL = "credit-risk"
OTHER_MODEL = "fraud"
UNKNOWN_MODELS = ("credit-risk-v2", "Credit-Risk", "", "fraud ", "x" * 300)
# Valid event times are near the wall clock, so the daemon (which checks them against its
# own clock) accepts them too; the in-process pipeline is given this same "now".
NOW = float(int(time.time()))
IDS = tuple(f"e{i}" for i in range(40))  # a small pool: duplicate ids are common
REGIONS = ("eu", "us", "apac")
WEIRD_NUMBERS = (
    "NaN",
    "-NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1e-400",
    "-0.0",
    "0",
    "1.7976931348623157e308",
    "123456789012345678901234567890",
    "-9" + "9" * 400,
    "4.9e-324",
)
WEIRD_TIMESTAMPS: tuple[Any, ...] = (
    0,
    -1,
    1.0,
    946_684_799.0,
    946_684_800.0,
    NOW + 86_400 + 1,
    NOW + 86_400 - 1,
    1e20,
    -1e20,
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+00:00",
    "yesterday",
    "",
    True,
    None,
    [],
    {},
)
KNOWN_REASONS = {
    "empty",
    "oversized",
    "invalid_json",
    "invalid_utf8",
    "non_finite",
    "schema",
    "unknown_model",
    "invalid_id",
    "invalid_timestamp",
    "missing_feature",
    "wrong_type",
    "missing_part",
    "join_expired",
}


class Draw(Protocol):
    def choice(self, options: Sequence[T]) -> T: ...
    def integer(self, low: int, high: int) -> int: ...
    def real(self) -> float: ...
    def text(self, max_size: int) -> str: ...
    def binary(self, max_size: int) -> bytes: ...


class RandomDraw:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def real(self) -> float:
        return self.rng.choice([self.rng.gauss(0, 1e3), self.rng.uniform(-1e307, 1e307), 0.5])

    def text(self, max_size: int) -> str:
        alphabet = "abcXYZ09 _-/\\\"'\u00e9\u4e2d\U0001f600\u0000\ud7ff\n\t"
        return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randint(0, max_size)))

    def binary(self, max_size: int) -> bytes:
        return bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, max_size)))


class HypothesisDraw:
    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def choice(self, options: Sequence[T]) -> T:
        return self.data.draw(st.sampled_from(options))

    def integer(self, low: int, high: int) -> int:
        return self.data.draw(st.integers(low, high))

    def real(self) -> float:
        return self.data.draw(st.floats(allow_nan=False, allow_infinity=False))

    def text(self, max_size: int) -> str:
        return self.data.draw(st.text(max_size=max_size))

    def binary(self, max_size: int) -> bytes:
        return self.data.draw(st.binary(max_size=max_size))


def _dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


def _features(d: Draw) -> dict[str, Any]:
    features: dict[str, Any] = {"income": abs(d.real()) % 1e6, "age": float(d.integer(0, 120))}
    if d.integer(0, 3):
        features["region"] = d.choice(REGIONS)
    if d.integer(0, 1):
        # High cardinality: a new value almost every time.
        features["channel"] = d.choice(["web", "app", d.text(12), f"c{d.integer(0, 10**9)}"])
    return features


def _prediction(d: Draw) -> dict[str, Any]:
    return {"score": d.choice([0.0, 1.0, 0.5, abs(d.real()) % 1.0]), "label": d.integer(0, 1)}


def valid_body(d: Draw) -> dict[str, Any]:
    """A full event, a features half or a prediction half, of a configured model."""
    model = d.choice([MODEL, MODEL, MODEL, OTHER_MODEL])
    body: dict[str, Any] = {
        "id": d.choice(IDS),
        "model": model,
        "ts": NOW - d.integer(0, 10_000) / 10,
    }
    kind = d.choice(["full", "full", "features", "prediction"])
    if model == OTHER_MODEL:
        feats: dict[str, Any] = {"amount": abs(d.real()) % 1e4}
    else:
        feats = _features(d)
    if kind in ("full", "features"):
        body["features"] = feats
    if kind in ("full", "prediction"):
        body["prediction"] = _prediction(d)
    if d.integer(0, 3) == 0:
        body["version"] = d.choice(["1", "2", 3])
    return body


def _wrong_value(d: Draw) -> Any:
    return d.choice(
        [None, True, 0, -1, 1.5, "", "x", [], {}, [1, 2], {"a": 1}, d.text(5), 10**30, "NaN"]
    )


def mutated_body(d: Draw) -> dict[str, Any]:
    """A valid event with one field or one nested value replaced by a wrong type."""
    body = valid_body(d)
    target = d.choice(["id", "model", "ts", "version", "features", "prediction", "label", "new"])
    if target == "features" and isinstance(body.get("features"), dict) and d.integer(0, 1):
        name = d.choice([*body["features"].keys(), "income", "region", "unknown_feature"])
        body["features"][name] = _wrong_value(d)
    elif target == "prediction" and isinstance(body.get("prediction"), dict) and d.integer(0, 1):
        body["prediction"][d.choice(["score", "label", "other"])] = _wrong_value(d)
    elif target == "new":
        body[d.text(8) or "k"] = _wrong_value(d)
    else:
        body[target] = _wrong_value(d)
    return body


def message(d: Draw) -> bytes | None:
    """One message of any kind, valid or hostile."""
    kind = d.choice(
        [
            "valid",
            "valid",
            "valid",
            "valid",
            "mutated",
            "mutated",
            "garbage",
            "invalid_utf8",
            "nested",
            "huge",
            "long_category",
            "number",
            "timestamp",
            "model",
            "id",
            "empty",
            "json_value",
            "attributes",
            "labels",
        ]
    )
    match kind:
        case "valid":
            return _dumps(valid_body(d))
        case "mutated":
            return _dumps(mutated_body(d))
        case "garbage":
            return d.binary(64)
        case "invalid_utf8":
            text = _dumps(valid_body(d))
            at = d.integer(0, len(text))
            return (
                text[:at] + d.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"]) + text[at:]
            )
        case "nested":
            depth = d.choice([10, 500, 2000, 100_000])
            open_, close = d.choice([("[", "]"), ('{"a":', "}")])
            inner = open_ * depth + ("1" if open_ != "[" else "") + close * depth
            where = d.choice(["junk", "features", "prediction", "id"])
            body = valid_body(d)
            as_text = _dumps({**body, where: "@@"}).decode()
            return as_text.replace('"@@"', inner).encode()
        case "huge":
            return _dumps({**valid_body(d), "junk": "x" * d.choice([3000, 5000, 2_000_000])})
        case "long_category":
            body = valid_body(d)
            body["model"] = MODEL
            body["features"] = {"income": 1.0, "region": "r" * d.integer(200, 400)}
            return _dumps(body)
        case "number":
            body = valid_body(d)
            as_text = _dumps(
                {**body, "ts": "@@"} if d.integer(0, 1) else {**body, "features": {"income": "@@"}}
            ).decode()
            return as_text.replace('"@@"', d.choice(WEIRD_NUMBERS)).encode()
        case "timestamp":
            return _dumps({**valid_body(d), "ts": d.choice(WEIRD_TIMESTAMPS)})
        case "model":
            return _dumps({**valid_body(d), "model": d.choice(UNKNOWN_MODELS)})
        case "id":
            return _dumps({**valid_body(d), "id": d.choice(["", "i" * 300, d.text(20)])})
        case "empty":
            return d.choice([b"", None, b" ", b"{}", b"null", b"[]"])
        case "json_value":
            return _dumps(d.choice([1, "s", [1], True, None, {"id": 1}, {"model": MODEL}]))
        case "attributes":  # protected attributes (fairness): canonical, too long, or not a map
            value = d.choice(["f", 7, 1.5, True, None, "a" * 300, "b" * 5000, [1], {"x": 1}])
            shape = d.choice(["map", "map", "map", "list", "string"])
            attributes = (
                {"gender": value} if shape == "map" else ["gender"] if shape == "list" else "f"
            )
            return _dumps({**valid_body(d), "attributes": attributes})
        case _:  # a label message, for the labels topic
            return _dumps(
                {
                    "id": d.choice(IDS),
                    "model": d.choice([MODEL, OTHER_MODEL]),
                    "ts": NOW,
                    "label": d.choice([0, 1, 0.5, "yes", None, True]),
                }
            )
