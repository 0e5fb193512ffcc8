"""What the fuzz tests share: the config they run, the batches they draw, and the
accounting that checks every record ended somewhere."""

from __future__ import annotations

from typing import Any

import msgspec

from monitor.config import Config
from monitor.decoder import RawEvent
from monitor.replay import FileRecord
from tests.reliability.fuzz_messages import KNOWN_REASONS, MODEL, NOW, OTHER_MODEL, message

FEATURES, PREDICTIONS, LABELS = "in.features", "in.predictions", "in.labels"
MILLIS = int(NOW * 1000)
DEAD = "dead"


def model_section() -> dict[str, Any]:
    # Numeric features are required and the score is not tested for drift here: an
    # optional numeric column without a single value during warm-up crashes the reference
    # build (see test_optional_numeric_feature_absent_during_warmup), which the fuzz would
    # otherwise keep finding.
    common = {
        "windows": [{"type": "tumbling", "size": 50}],
        "reference": {"warmup_events": 100},
        "detectors": {"score": []},
    }
    return {
        MODEL: {
            "features": {
                "income": {"type": "numeric", "required": True},
                "age": {"type": "numeric", "required": True},
                "region": {"type": "categorical"},
                "channel": {"type": "categorical"},
            },
            "segments": ["region"],
            "max_segments": 2,
            **common,
        },
        OTHER_MODEL: {"features": {"amount": {"type": "numeric", "required": True}}, **common},
    }


def make_config(**join: Any) -> Config:
    return Config.model_validate(
        {
            "topics": {
                "features": FEATURES,
                "predictions": PREDICTIONS,
                "labels": LABELS,
                "dead_letter": DEAD,
            },
            "limits": {"max_message_bytes": 4096},
            "join": join,
            "models": model_section(),
        }
    )


def check_letters(letters: list[dict[str, Any]]) -> None:
    for letter in letters:
        assert letter["reason"] in KNOWN_REASONS, letter["reason"]
        assert letter["detail"]
        assert "payload" in letter or "payload_base64" in letter
        source = letter["source"]
        assert {"topic", "partition", "offset", "timestamp"} <= source.keys()


def ground_truth(
    records: list[FileRecord], decode_rejected: set[tuple[str, int, int]]
) -> tuple[int, int, int]:
    """From the records the decoder accepted: (full events, label messages, halves)."""
    full = labels = halves = 0
    for r in records:
        if (r.topic, r.partition, r.offset) in decode_rejected:
            continue
        raw = msgspec.json.decode(r.value or b"", type=RawEvent)
        if r.topic == LABELS:
            labels += 1
        elif raw.features is not None and raw.prediction is not None:
            full += 1
        else:
            halves += 1
    return full, labels, halves


def draw_batch(d: Any, size: int) -> list[tuple[str, int, bytes | None]]:
    out = []
    for _ in range(size):
        topic = d.choice([FEATURES, FEATURES, PREDICTIONS, LABELS])
        out.append((topic, d.choice([0, 0, 0, 1]), message(d)))
    return out
