"""The configuration schema: one YAML file, validated by pydantic v2 models.

Every model forbids unknown keys, so a typo is an error that names the key instead of a
setting that silently does nothing. ``config/example.yaml`` documents every option.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from monitor.config_alerts import AlertsConfig
from monitor.config_drift import (
    ConceptConfig,
    DetectorsConfig,
    DriftPolicyConfig,
    LabelsConfig,
    ReferenceConfig,
    TumblingWindow,
    WindowConfig,
)
from monitor.config_fairness import (
    ChallengerConfig,
    FairnessConfig,
    check_challengers,
    check_fairness,
)
from monitor.config_formats import SELDON_TOPIC, FormatConfig, TraceHeadersConfig
from monitor.config_governance import AuditConfig, ReloadConfig
from monitor.config_guardrails import GuardrailConfig

_HOST_PORT = re.compile(r"^\[?[A-Za-z0-9_.:\-]+\]?:\d{1,5}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _resolve_secret(value: Any) -> Any:
    """Accept a literal, ``{env: NAME}`` or ``{file: PATH}``; return the secret string."""
    if isinstance(value, dict):
        if set(value) == {"env"}:
            name = str(value["env"])
            if name not in os.environ:
                raise ValueError(f"environment variable {name} is not set")
            return os.environ[name]
        if set(value) == {"file"}:
            path = Path(str(value["file"]))
            try:
                return path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
        raise ValueError("a secret is a string, {env: NAME} or {file: PATH}")
    return value


def _validate_secret(value: Any) -> Any:
    value = _resolve_secret(value)
    if isinstance(value, SecretStr):
        return value
    if not isinstance(value, str):
        raise ValueError("a secret is a string, {env: NAME} or {file: PATH}")
    return value


Secret = Annotated[SecretStr, Field(description="literal, {env: NAME} or {file: PATH}")]


class SaslConfig(StrictModel):
    mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] = "PLAIN"
    username: str | None = None
    password: Secret | None = None
    oauth_token: Secret | None = None

    _secrets = field_validator("password", "oauth_token", mode="before")(
        lambda value: _validate_secret(value) if value is not None else None
    )

    @model_validator(mode="after")
    def _complete(self) -> SaslConfig:
        if self.mechanism == "OAUTHBEARER":
            if self.oauth_token is None:
                raise ValueError("mechanism OAUTHBEARER needs oauth_token")
        elif self.username is None or self.password is None:
            raise ValueError(f"mechanism {self.mechanism} needs username and password")
        return self


class TlsConfig(StrictModel):
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: Secret | None = None
    check_hostname: bool = True

    _secrets = field_validator("key_password", mode="before")(
        lambda value: _validate_secret(value) if value is not None else None
    )

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value


class ConsumerConfig(StrictModel):
    group_id: str = "driftd"
    max_poll_records: int = Field(5000, ge=1, le=1_000_000)
    poll_timeout_ms: int = Field(200, ge=1, le=60_000)
    max_poll_interval_ms: int = Field(300_000, ge=1000)
    session_timeout_ms: int = Field(10_000, ge=1000)
    heartbeat_interval_ms: int = Field(3000, ge=100)
    fetch_max_bytes: int = Field(52_428_800, ge=1024)
    max_partition_fetch_bytes: int = Field(1_048_576, ge=1024)
    # How long the broker may hold a fetch waiting for data. kafka-python's 500 ms default
    # adds up to half a second between a window's last event and its alert.
    fetch_max_wait_ms: int = Field(50, ge=0, le=10_000)
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"

    @model_validator(mode="after")
    def _heartbeat_below_session(self) -> ConsumerConfig:
        if self.heartbeat_interval_ms * 3 > self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be at most a third of session_timeout_ms")
        return self


class ProducerConfig(StrictModel):
    linger_ms: int = Field(5, ge=0, le=60_000)
    batch_size: int = Field(262_144, ge=1024)
    request_timeout_ms: int = Field(10_000, ge=100)
    compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = None
    delivery_timeout_seconds: float = Field(30.0, gt=0)


class KafkaConfig(StrictModel):
    bootstrap_servers: list[str] = Field(default_factory=lambda: ["localhost:9092"], min_length=1)
    client_id: str = "driftd"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl: SaslConfig | None = None
    tls: TlsConfig | None = None
    consumer: ConsumerConfig = ConsumerConfig()
    producer: ProducerConfig = ProducerConfig()

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port(cls, value: list[str]) -> list[str]:
        for server in value:
            if not _HOST_PORT.match(server) or not 0 < int(server.rsplit(":", 1)[1]) < 65536:
                raise ValueError(f"{server!r} is not host:port")
        return value

    @model_validator(mode="after")
    def _security_consistent(self) -> KafkaConfig:
        uses_sasl = self.security_protocol.startswith("SASL")
        if uses_sasl and self.sasl is None:
            raise ValueError(f"security_protocol {self.security_protocol} needs a sasl section")
        if not uses_sasl and self.sasl is not None:
            raise ValueError("a sasl section needs security_protocol SASL_PLAINTEXT or SASL_SSL")
        if self.tls is not None and not self.security_protocol.endswith("SSL"):
            raise ValueError("a tls section needs security_protocol SSL or SASL_SSL")
        return self


class TopicsConfig(StrictModel):
    features: str | None = "driftd.features"
    predictions: str | None = "driftd.predictions"
    labels: str | None = None
    review: str = "driftd.review"
    alerts: str = "driftd.alerts"
    dead_letter: str = "driftd.dead-letter"
    joined: str | None = None
    # Gating mode: decisions that no review or block rule hit are forwarded here.
    approved: str | None = None
    state: str | None = None

    @model_validator(mode="after")
    def _inputs(self) -> TopicsConfig:
        inputs = [t for t in (self.features, self.predictions, self.labels) if t]
        if not (self.features or self.predictions):
            raise ValueError("at least one of features, predictions must be set")
        if len(set(inputs)) != len(inputs):
            raise ValueError("features, predictions and labels must be different topics")
        outputs = {
            self.review,
            self.alerts,
            self.dead_letter,
            self.joined,
            self.approved,
            self.state,
        } - {None}
        if outputs & set(inputs):
            raise ValueError("an output topic cannot also be an input topic")
        return self

    @property
    def inputs(self) -> list[str]:
        return [t for t in (self.features, self.predictions, self.labels) if t]


class JoinConfig(StrictModel):
    ttl_seconds: float = Field(
        300.0, gt=0, description="event time an event may wait for its other half"
    )
    max_pending: int = Field(100_000, ge=1)
    on_incomplete: Literal["process", "dead_letter"] = "process"


class InputLimits(StrictModel):
    max_message_bytes: int = Field(1_048_576, ge=64)
    max_id_length: int = Field(256, ge=1)
    max_category_length: int = Field(256, ge=1)
    # Distinct values remembered per categorical feature; later new values count as
    # unseen (driftd_category_overflow_total), so cardinality cannot grow memory.
    max_categories_per_feature: int = Field(10_000, ge=10, le=1_000_000)
    max_future_seconds: float = Field(86_400.0, ge=0)
    min_timestamp: float = Field(946_684_800.0, description="2000-01-01T00:00:00Z")


class FeatureConfig(StrictModel):
    type: Literal["numeric", "categorical"]
    required: bool = False
    range: tuple[float, float] | None = None
    categories: list[str] | None = None

    @model_validator(mode="after")
    def _kind_specific(self) -> FeatureConfig:
        if self.range is not None:
            if self.type != "numeric":
                raise ValueError("range applies to numeric features only")
            if not self.range[0] <= self.range[1]:
                raise ValueError("range must be [low, high] with low <= high")
        if self.categories is not None:
            if self.type != "categorical":
                raise ValueError("categories apply to categorical features only")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError("categories must be unique")
        return self


class ModelConfig(StrictModel):
    task: Literal["classification", "regression"] = "classification"
    features: dict[str, FeatureConfig] = Field(min_length=1)
    reference: ReferenceConfig = ReferenceConfig()
    windows: list[WindowConfig] = Field([TumblingWindow()], min_length=1)
    # Categorical features whose values split the traffic into separately monitored segments.
    segments: list[str] = Field(default_factory=list, max_length=3)
    max_segments: int = Field(20, ge=1, le=1000)
    detectors: DetectorsConfig = DetectorsConfig()
    policy: DriftPolicyConfig = DriftPolicyConfig()
    concept: ConceptConfig = ConceptConfig()
    # An alert-action guardrail resolves after this much event time without a hit.
    guardrail_quiet_seconds: float = Field(600.0, gt=0)
    guardrails: list[GuardrailConfig] = Field(default_factory=list)
    # Group fairness over protected attributes (docs/governance.md); null: off.
    fairness: FairnessConfig | None = None
    # Another configured model scoring the same events, compared with this one; null: none.
    challenger: ChallengerConfig | None = None

    @model_validator(mode="after")
    def _fairness_attributes(self) -> ModelConfig:
        if self.fairness is not None:
            check_fairness(self.fairness, self.task, self.features)
        return self

    @model_validator(mode="after")
    def _segments_are_categorical(self) -> ModelConfig:
        for name in self.segments:
            feature = self.features.get(name)
            if feature is None or feature.type != "categorical":
                raise ValueError(f"segment {name!r} must be a declared categorical feature")
        names = [w.name for w in self.windows]
        if len(set(names)) != len(names):
            raise ValueError("two windows are the same")
        return self

    @model_validator(mode="after")
    def _guardrails_compile(self) -> ModelConfig:
        # Compiling the rules here makes check-config report a bad rule, by name, without
        # starting anything. Imported late: the compiler itself imports this module.
        if self.guardrails:
            from monitor.guardrails.compiler import compile_rules  # noqa: PLC0415

            compile_rules(self)
        return self

    @field_validator("features")
    @classmethod
    def _feature_names(cls, value: dict[str, FeatureConfig]) -> dict[str, FeatureConfig]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"feature name {name!r}: letters, digits, '_', '.', '-' only")
        return value


class ServerConfig(StrictModel):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535)


class LoggingConfig(StrictModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    log_feature_values: bool = False


class CheckpointConfig(StrictModel):
    # Five seconds, like quix-streams' commit interval: a checkpoint copies every task's
    # state (the label join's waiting decisions included) and holds the main loop while
    # it does, so once a second cost a tenth of the throughput and delayed alerts that
    # arrived during one; a crash re-processes at most these seconds.
    interval_seconds: float = Field(5.0, gt=0, le=3600)
    max_records: int = Field(50_000, ge=1)


class Config(StrictModel):
    kafka: KafkaConfig = KafkaConfig()
    topics: TopicsConfig = TopicsConfig()
    join: JoinConfig = JoinConfig()
    labels: LabelsConfig = LabelsConfig()
    limits: InputLimits = InputLimits()
    models: dict[str, ModelConfig] = Field(min_length=1)
    alerts: AlertsConfig = AlertsConfig()
    server: ServerConfig = ServerConfig()
    logging: LoggingConfig = LoggingConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    audit: AuditConfig = AuditConfig()
    reload: ReloadConfig = ReloadConfig()
    shutdown_timeout_seconds: float = Field(10.0, gt=0, le=600)
    # Input format per topic (monitor/formats/); topics not listed are native.
    formats: dict[str, FormatConfig] = Field(default_factory=dict)
    trace_headers: TraceHeadersConfig = TraceHeadersConfig()

    @model_validator(mode="after")
    def _formats_fit_topics(self) -> Config:
        decisions = {self.topics.features, self.topics.predictions} - {None}
        for topic, fmt in self.formats.items():
            if topic not in decisions:
                raise ValueError(
                    f"formats.{topic}: not the features or predictions topic "
                    "(labels are always native)"
                )
            if fmt.model is not None and fmt.model not in self.models:
                raise ValueError(f"formats.{topic}.model: {fmt.model!r} is not a configured model")
            if fmt.type == "seldon" and not SELDON_TOPIC.match(topic):
                raise ValueError(
                    f"formats.{topic}: a seldon topic is <prefix>.<namespace>.model.<model>"
                    ".inputs or .outputs"
                )
        return self

    @field_validator("models")
    @classmethod
    def _model_names(cls, value: dict[str, ModelConfig]) -> dict[str, ModelConfig]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"model name {name!r}: letters, digits, '_', '.', '-' only")
        return value

    @model_validator(mode="after")
    def _audit_topic_is_an_output(self) -> Config:
        if self.audit.enabled and self.audit.topic in self.topics.inputs:
            raise ValueError(f"audit.topic {self.audit.topic} is also an input topic")
        return self

    @model_validator(mode="after")
    def _challengers_exist(self) -> Config:
        check_challengers(self.models)
        return self

    @property
    def state_topic(self) -> str:
        return self.topics.state or f"{self.kafka.consumer.group_id}.state"
