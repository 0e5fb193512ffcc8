"""Config of alert delivery (``alerts:``): named sinks, routes, and the notifier's policy.

The alerts topic is always the durable record of every alert; sinks are where the
notifier delivers them. URLs of Slack and generic webhooks, PagerDuty routing keys,
signing secrets and extra header values are secrets: literal, ``{env: NAME}`` or
``{file: PATH}``, never printed. Messages below therefore never echo a value.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
WEBHOOK_SECRET_PREFIX = "whsec_"
# Headers the webhook sink sets itself: letting config override them would break signing.
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "webhook-id", "webhook-timestamp",
     "webhook-signature"}
)  # fmt: skip
_SINK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z\-]+$")

# "info" (champion-challenger alerts) is delivered only by routes that name it.
Severity = Literal["warning", "critical", "info"]
PagerDutySeverity = Literal["critical", "error", "warning", "info"]


class _Strict(BaseModel):
    # The same rules as monitor.config.StrictModel, which cannot be imported here:
    # monitor.config imports this module.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _secret(value: Any) -> Any:
    # Imported late because monitor.config imports this module at its top.
    from monitor.config import _validate_secret  # noqa: PLC0415

    return _validate_secret(value)


def _check_http_url(url: SecretStr | str) -> None:
    text = url.get_secret_value() if isinstance(url, SecretStr) else url
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # The value is not repeated: it may carry a token.
        raise ValueError("must be an http:// or https:// URL")


def _default_severity_map() -> dict[Severity, PagerDutySeverity]:
    return {"warning": "warning", "critical": "critical"}


def _all_severities() -> list[Severity]:
    return ["warning", "critical"]


class PagerDutySinkConfig(_Strict):
    """PagerDuty Events API v2: trigger on firing, resolve on resolved, by dedup key."""

    type: Literal["pagerduty"]
    url: str = PAGERDUTY_EVENTS_URL
    routing_key: SecretStr
    # driftd severity -> PagerDuty severity; keys left out keep their default.
    severity_map: dict[Severity, PagerDutySeverity] = Field(default_factory=_default_severity_map)
    # PagerDuty accepts about 120 events per minute per routing key.
    rate_limit_per_minute: float = Field(120.0, gt=0)

    _secrets = field_validator("routing_key", mode="before")(_secret)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        _check_http_url(value)
        return value

    @field_validator("severity_map", mode="before")
    @classmethod
    def _complete_map(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {**_default_severity_map(), **value}
        return value


class WebhookSinkConfig(_Strict):
    """A generic JSON POST of the alert, signed the Standard Webhooks way."""

    type: Literal["webhook"]
    url: SecretStr
    # Signing secret: "whsec_" + base64 of 24..64 random bytes (as the spec serializes
    # it), or any other string, whose UTF-8 bytes are then the HMAC key.
    secret: SecretStr
    # Extra headers, e.g. {Authorization: {env: HOOK_TOKEN}}; values are secrets.
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    rate_limit_per_minute: float = Field(600.0, gt=0)

    _secrets = field_validator("url", "secret", mode="before")(_secret)

    @field_validator("headers", mode="before")
    @classmethod
    def _header_secrets(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: _secret(header) for name, header in value.items()}
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        _check_http_url(value)
        return value

    @field_validator("secret")
    @classmethod
    def _signing_secret(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if not text:
            raise ValueError("the signing secret is empty")
        if text.startswith(WEBHOOK_SECRET_PREFIX):
            try:
                key = base64.b64decode(text[len(WEBHOOK_SECRET_PREFIX) :], validate=True)
            except binascii.Error:
                raise ValueError("a whsec_ secret must be base64 after the prefix") from None
            if not 24 <= len(key) <= 64:
                raise ValueError("a whsec_ secret must decode to 24..64 bytes")
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name in value:
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by driftd and cannot be configured")
        return value


class SlackSinkConfig(_Strict):
    """A Slack incoming webhook (its URL is the credential)."""

    type: Literal["slack"]
    url: SecretStr
    # Slack allows about one message per second per incoming webhook.
    rate_limit_per_minute: float = Field(60.0, gt=0)

    _secrets = field_validator("url", mode="before")(_secret)

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        _check_http_url(value)
        return value


SinkConfig = Annotated[
    PagerDutySinkConfig | WebhookSinkConfig | SlackSinkConfig, Field(discriminator="type")
]


class RouteConfig(_Strict):
    """Alerts matching every filter go to every sink named here."""

    models: list[str] | Literal["*"] = "*"
    severities: list[Severity] = Field(default_factory=_all_severities, min_length=1)
    kinds: list[str] | Literal["*"] = "*"
    sinks: list[str] = Field(min_length=1)


class DeliveryConfig(_Strict):
    """How the notifier delivers, retries and gives up."""

    timeout_seconds: float = Field(10.0, gt=0, le=300)
    # Retries stop at whichever limit comes first; the alert is then dead-lettered with
    # reason "delivery_failed". null for both retries forever (the alert waits in Kafka).
    max_attempts: int | None = Field(None, ge=1)
    max_retry_seconds: float | None = Field(86_400.0, gt=0)
    backoff_initial_seconds: float = Field(1.0, gt=0)
    backoff_max_seconds: float = Field(60.0, gt=0)
    # Full jitter: each wait is uniform in [0, backoff], so retries do not synchronize.
    jitter: bool = True
    # Alerts read but not yet delivered everywhere; beyond this, reading pauses.
    max_in_flight: int = Field(1000, ge=1)
    # Per sink: how many dedup keys are remembered to suppress repeated deliveries.
    dedup_cache_size: int = Field(10_000, ge=1)
    # Consumer group of the notifier; null: "<kafka.consumer.group_id>-notifier".
    consumer_group: str | None = Field(None, min_length=1)
    # Where rejected alerts go; null: topics.dead_letter.
    dead_letter_topic: str | None = Field(None, min_length=1)
    # Where a new notifier group starts on an alerts topic that already has history.
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"

    @model_validator(mode="after")
    def _backoff_order(self) -> DeliveryConfig:
        if self.backoff_initial_seconds > self.backoff_max_seconds:
            raise ValueError("backoff_initial_seconds must not exceed backoff_max_seconds")
        return self


class AlertsConfig(_Strict):
    """Alert routing and sinks; the notifier runs when at least one sink is configured."""

    sinks: dict[str, SinkConfig] = Field(default_factory=dict)
    routes: list[RouteConfig] = Field(default_factory=list)
    delivery: DeliveryConfig = DeliveryConfig()

    @field_validator("sinks")
    @classmethod
    def _sink_names(cls, value: dict[str, SinkConfig]) -> dict[str, SinkConfig]:
        for name in value:
            # Sink names become metric labels and log fields.
            if not _SINK_NAME.match(name):
                raise ValueError(f"sink name {name!r}: letters, digits, '_', '.', '-' only")
        return value

    @model_validator(mode="after")
    def _routes_name_sinks(self) -> AlertsConfig:
        configured = ", ".join(sorted(self.sinks)) or "none"
        used: set[str] = set()
        problems = []
        for index, route in enumerate(self.routes):
            for name in route.sinks:
                if name not in self.sinks:
                    problems.append(
                        f"routes[{index}].sinks: unknown sink {name!r} (configured: {configured})"
                    )
                used.add(name)
        # An unused sink is almost always a typo in a route, and would silently get nothing.
        problems.extend(
            f"sinks.{name}: not used by any route" for name in sorted(set(self.sinks) - used)
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.sinks)
