"""Which sinks an alert goes to, and what an alert on the topic must look like."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import msgspec

from monitor.config_alerts import RouteConfig

STATUSES = ("firing", "resolved")
_decode = msgspec.json.Decoder().decode


def parse_alert(value: bytes | None) -> tuple[dict[str, Any] | None, str]:
    """The alert, or None and why it cannot be delivered."""
    if not value:
        return None, "empty message"
    try:
        alert = _decode(value)
    except msgspec.DecodeError as exc:
        return None, f"not JSON: {str(exc)[:200]}"
    if not isinstance(alert, dict):
        return None, "not a JSON object"
    for name in ("dedup_key", "model", "kind"):
        if not isinstance(alert.get(name), str) or not alert[name]:
            return None, f"{name} must be a non-empty string"
    if alert.get("status") not in STATUSES:
        return None, "status must be 'firing' or 'resolved'"
    if not isinstance(alert.get("severity"), str):
        return None, "severity must be a string"
    return alert, ""


class Router:
    """Matches alerts against the routes, in order; each sink appears once.

    A resolve goes where its firing went. Resolving alerts carry the severity of the
    clean window that ended the incident, not of the incident, so routing them by
    severity would leave a critical page open forever. The router therefore remembers,
    per dedup key, the sinks a firing went to; a resolve whose firing it does not know
    (after a restart, or evicted) goes to every route matching its model and kind,
    whatever the severity: a resolve of an incident a sink never saw is harmless, an
    incident never resolved is not.
    """

    def __init__(self, routes: list[RouteConfig], memory: int) -> None:
        self.routes = routes
        self.memory = memory
        self._fired: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def sinks_for(self, alert: dict[str, Any]) -> tuple[str, ...]:
        key = alert["dedup_key"]
        if alert["status"] == "resolved":
            known = self._fired.pop(key, None)
            if known is not None:
                return known
            return self._match(alert, any_severity=True)
        sinks = self._match(alert, any_severity=False)
        self._fired[key] = sinks
        self._fired.move_to_end(key)
        while len(self._fired) > self.memory:
            self._fired.popitem(last=False)
        return sinks

    def _match(self, alert: dict[str, Any], any_severity: bool) -> tuple[str, ...]:
        chosen: dict[str, None] = {}
        for route in self.routes:
            if route.models != "*" and alert["model"] not in route.models:
                continue
            if route.kinds != "*" and alert["kind"] not in route.kinds:
                continue
            if not any_severity and alert["severity"] not in route.severities:
                continue
            chosen.update(dict.fromkeys(route.sinks))
        return tuple(chosen)
