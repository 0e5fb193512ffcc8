"""Sinks: where the notifier delivers alerts, behind one small contract.

Like quix-streams' ``BaseSink``: ``send(alert)`` either delivers or raises an
:class:`AlertDeliveryError` that says whether retrying can help, and ``flush()`` makes
anything buffered durable. The sinks here send synchronously, one request per alert,
so ``flush`` has nothing to do; retries, pacing and dead-lettering live in the worker.
"""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import msgspec

from monitor import __version__
from monitor.config_alerts import (
    AlertsConfig,
    PagerDutySinkConfig,
    SinkConfig,
    SlackSinkConfig,
    WebhookSinkConfig,
)
from monitor.notify import formatting
from monitor.notify.errors import PermanentDeliveryError, TransientDeliveryError
from monitor.notify.pacing import parse_retry_after

RESPONSE_BODY_MAX = 2000  # characters of a rejecting response kept for the dead letter
PAGERDUTY_DEDUP_KEY_MAX = 255
# 408: the receiver timed out reading our request; 429: it is rate limiting us.
RETRYABLE_STATUSES = frozenset({408, 429})
_encode = msgspec.json.Encoder().encode


class AlertSink(ABC):
    kind: ClassVar[str]

    def __init__(self, name: str, rate_limit_per_minute: float) -> None:
        self.name = name
        self.rate_limit_per_minute = rate_limit_per_minute

    @abstractmethod
    def send(self, alert: dict[str, Any]) -> None:
        """Deliver one alert, or raise an ``AlertDeliveryError``."""

    @abstractmethod
    def flush(self) -> None:
        """Make buffered deliveries durable before the alert counts as delivered."""

    def close(self) -> None:
        """Release connections (sinks that hold none keep this)."""
        return None


class HttpSink(AlertSink):
    """POSTs one JSON body per alert; 2xx is delivered, anything else raises."""

    def __init__(
        self, name: str, url: str, rate_limit_per_minute: float, timeout_seconds: float
    ) -> None:
        super().__init__(name, rate_limit_per_minute)
        self._url = url  # may carry a token: never logged, never in an error message
        self.timeout_seconds = timeout_seconds
        # Redirects are failures (Standard Webhooks): the configured URL should be fixed.
        self._client = httpx.Client(timeout=timeout_seconds, follow_redirects=False)

    @abstractmethod
    def request_for(self, alert: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The body and headers to POST for ``alert``."""

    def send(self, alert: dict[str, Any]) -> None:
        body, headers = self.request_for(alert)
        headers = {
            "content-type": "application/json",
            "user-agent": f"driftd/{__version__}",
            **headers,
        }
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(
                f"sink {self.name}: no answer within {self.timeout_seconds:g} s"
            ) from exc
        except httpx.TransportError as exc:
            # The type says what happened (ConnectError, RemoteProtocolError, ...); the
            # message is left out because some include the URL.
            raise TransientDeliveryError(f"sink {self.name}: {type(exc).__name__}") from exc
        self._check(response)

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        body = response.text[:RESPONSE_BODY_MAX]
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        message = f"sink {self.name}: HTTP {status}"
        if status in RETRYABLE_STATUSES or status >= 500:
            raise TransientDeliveryError(
                message, status=status, response_body=body, retry_after=retry_after
            )
        raise PermanentDeliveryError(message, status=status, response_body=body)

    def flush(self) -> None:
        return None  # one request per alert: a 2xx answer already means delivered

    def close(self) -> None:
        self._client.close()


class PagerDutySink(HttpSink):
    kind = "pagerduty"

    def __init__(self, name: str, config: PagerDutySinkConfig, timeout_seconds: float) -> None:
        super().__init__(name, config.url, config.rate_limit_per_minute, timeout_seconds)
        self._routing_key = config.routing_key.get_secret_value()
        self.severity_map = dict(config.severity_map)

    def request_for(self, alert: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        return _encode(self.event(alert)), {}

    def event(self, alert: dict[str, Any]) -> dict[str, Any]:
        """The Events API v2 body: trigger on firing, resolve on resolved."""
        dedup_key = pagerduty_dedup_key(alert["dedup_key"])
        if alert["status"] == "resolved":
            return {
                "routing_key": self._routing_key,
                "event_action": "resolve",
                "dedup_key": dedup_key,
            }
        payload: dict[str, Any] = {
            "summary": formatting.summary(alert),
            "source": "driftd",
            "severity": self.severity_map.get(alert["severity"], "warning"),
            "component": alert["model"],
            "group": alert["kind"],
            "custom_details": formatting.details(alert),
        }
        if alert.get("test"):
            payload["class"] = alert["test"]
        timestamp = formatting.event_time(alert)
        if timestamp is not None:
            payload["timestamp"] = timestamp
        return {
            "routing_key": self._routing_key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "client": "driftd",
            "payload": payload,
        }


def pagerduty_dedup_key(key: str) -> str:
    """PagerDuty rejects dedup keys over 255 characters: long ones become a hash (the same
    for trigger and resolve, so incidents still resolve)."""
    if len(key) <= PAGERDUTY_DEDUP_KEY_MAX:
        return key
    return "driftd/sha256/" + hashlib.sha256(key.encode()).hexdigest()


class WebhookSink(HttpSink):
    """The alert itself as JSON, with the Standard Webhooks headers."""

    kind = "webhook"

    def __init__(
        self,
        name: str,
        config: WebhookSinkConfig,
        timeout_seconds: float,
        clock: Any = time.time,
    ) -> None:
        super().__init__(
            name, config.url.get_secret_value(), config.rate_limit_per_minute, timeout_seconds
        )
        self._key = formatting.signing_key(config.secret.get_secret_value())
        self._extra_headers = {k: v.get_secret_value() for k, v in config.headers.items()}
        self._clock = clock

    def request_for(self, alert: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = _encode(alert)
        message_id = formatting.webhook_id(alert)
        # The timestamp is the attempt's, per the spec: receivers reject stale ones.
        timestamp = int(self._clock())
        headers = {
            **self._extra_headers,
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": formatting.webhook_signature(
                self._key, message_id, timestamp, body
            ),
        }
        return body, headers


class SlackSink(HttpSink):
    kind = "slack"

    def __init__(self, name: str, config: SlackSinkConfig, timeout_seconds: float) -> None:
        super().__init__(
            name, config.url.get_secret_value(), config.rate_limit_per_minute, timeout_seconds
        )

    def request_for(self, alert: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        return _encode({"text": formatting.slack_text(alert)}), {}


def build_sink(name: str, config: SinkConfig, timeout_seconds: float) -> AlertSink:
    if isinstance(config, PagerDutySinkConfig):
        return PagerDutySink(name, config, timeout_seconds)
    if isinstance(config, WebhookSinkConfig):
        return WebhookSink(name, config, timeout_seconds)
    return SlackSink(name, config, timeout_seconds)


def build_sinks(config: AlertsConfig) -> Mapping[str, AlertSink]:
    timeout = config.delivery.timeout_seconds
    return {name: build_sink(name, sink, timeout) for name, sink in config.sinks.items()}
