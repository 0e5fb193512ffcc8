"""What people read: summaries, PagerDuty details, Slack text; Standard Webhooks signing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from datetime import UTC, datetime
from typing import Any

from monitor.config_alerts import WEBHOOK_SECRET_PREFIX

STATISTICS = (
    "statistic",
    "p_value",
    "p_value_corrected",
    "correction",
    "alpha",
    "threshold",
    "n_reference",
    "n_current",
)
_KIND_NAMES = {"data_drift": "Data drift", "dataset_drift": "Dataset drift"}
SUMMARY_MAX = 1024  # PagerDuty truncates payload.summary at 1024 characters


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def subject(alert: dict[str, Any]) -> str:
    """``credit-risk/debt_to_income``, with ``[region=eu]`` for a segment."""
    text = str(alert["model"])
    if alert.get("segment"):
        text += f"[{alert['segment']}]"
    if alert.get("feature"):
        text += f"/{alert['feature']}"
    elif alert.get("signal"):  # concept drift: the monitored signal (error, score)
        text += f"/{alert['signal']}"
    return text


def headline(alert: dict[str, Any]) -> str:
    """``Data drift on credit-risk/debt_to_income (ks=0.41)``."""
    kind = str(alert["kind"])
    name = _KIND_NAMES.get(kind, kind.replace("_", " ").capitalize())
    text = f"{name} on {subject(alert)}"
    statistic = _number(alert.get("statistic"))
    if statistic is not None:
        if kind == "dataset_drift":
            text += f" ({statistic:.0%} of features drifted)"
        elif alert.get("test"):
            text += f" ({alert['test']}={statistic:.3g})"
    return text


def summary(alert: dict[str, Any]) -> str:
    text = headline(alert)
    if alert["status"] == "resolved":
        text = "Resolved: " + text[0].lower() + text[1:]
    return text[:SUMMARY_MAX]


def details(alert: dict[str, Any]) -> dict[str, Any]:
    """The statistics, window and explanation, for PagerDuty's ``custom_details``."""
    body: dict[str, Any] = {
        "dedup_key": alert["dedup_key"],
        "kind": alert["kind"],
        "model": alert["model"],
        "segment": alert.get("segment"),
        "feature": alert.get("feature"),
        "test": alert.get("test"),
    }
    body.update({name: alert[name] for name in STATISTICS if name in alert})
    for name in ("window", "drift_started", "explanation", "reference"):
        if name in alert:
            body[name] = alert[name]
    return body


def event_time(alert: dict[str, Any]) -> str | None:
    """The end of the alert's window as RFC 3339, if the alert has one."""
    window = alert.get("window")
    end = _number(window.get("end_time")) if isinstance(window, dict) else None
    if end is None:
        return None
    try:
        return datetime.fromtimestamp(end, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn reads these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(alert: dict[str, Any]) -> str:
    firing = alert["status"] == "firing"
    if firing:
        first = f":rotating_light: *{str(alert['severity']).upper()}* {headline(alert)}"
    else:
        first = f":white_check_mark: *RESOLVED* {headline(alert)}"
    facts = []
    window = alert.get("window")
    if isinstance(window, dict) and window.get("name"):
        index = f" #{window['index']}" if window.get("index") is not None else ""
        facts.append(f"window {window['name']}{index}")
    p_value = _number(alert.get("p_value_corrected"))
    if p_value is not None:
        facts.append(f"p={p_value:.2g} ({alert.get('correction') or 'uncorrected'})")
    threshold = _number(alert.get("threshold"))
    if threshold is not None:
        facts.append(f"threshold {threshold:g}")
    lines = [first]
    if facts:
        lines.append(" · ".join(facts))
    lines.append(f"`{alert['dedup_key']}`")
    return _slack_escape("\n".join(lines))


def webhook_id(alert: dict[str, Any]) -> str:
    """The Standard Webhooks message id: the same for every attempt at one alert.

    Derived from dedup key, status and where the transition happened (window index, or
    a concept-drift detection point): retries and re-emissions of one transition share
    it (receivers may use it as idempotency key), a later incident of the same key gets
    another. Hashed because the spec forbids '.' in ids and dedup keys may contain it.
    """
    window = alert.get("window")
    marker: Any = window.get("index") if isinstance(window, dict) else None
    if marker is None:
        marker = alert.get("detected_at", alert.get("last_detection_time"))
    material = f"{alert['dedup_key']}\x00{alert['status']}\x00{json.dumps(marker, sort_keys=True)}"
    return "msg_" + hashlib.sha256(material.encode()).hexdigest()[:32]


def signing_key(secret: str) -> bytes:
    """``whsec_`` + base64 is the spec's serialization; any other string is used as is."""
    if secret.startswith(WEBHOOK_SECRET_PREFIX):
        return base64.b64decode(secret[len(WEBHOOK_SECRET_PREFIX) :])
    return secret.encode()


def webhook_signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")
