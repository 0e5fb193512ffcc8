"""Configuration of input formats per topic, and of the trace headers carried along."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# `<prefix>.<namespace>.model.<model>.inputs|outputs`: Seldon Core v2's model topics.
SELDON_TOPIC = re.compile(
    r"^(?P<prefix>.+)\.(?P<namespace>[^.]+)\.model\.(?P<model>[^.]+)\.(?P<side>inputs|outputs)$"
)

DEFAULT_TRACE_HEADERS = [
    "traceparent",
    "tracestate",
    "x-request-id",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-cloud-trace-context",
    "ce_id",
    "ce_traceparent",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class OutputsConfig(_Strict):
    """Which output tensors hold the prediction; by default a single output is the score."""

    score: str | None = None
    label: str | None = None
    # For a score tensor [N, K] (class probabilities): the column that is the score.
    score_column: int | None = Field(None, ge=0)


class FormatConfig(_Strict):
    type: Literal["native", "open_inference", "kserve_cloudevents", "seldon"]
    # The model of every message on the topic; else taken from the message (KServe
    # ce_inferenceservicename, the Seldon topic name, the V2 model_name).
    model: str | None = None
    # Column names of an [N, F] input tensor; default: the model's features in order.
    columns: list[str] | None = Field(None, min_length=1)
    outputs: OutputsConfig = OutputsConfig()
    # auto: JSON when the message starts with "{", else protobuf.
    encoding: Literal["auto", "json", "protobuf"] = "auto"
    # kserve_cloudevents: the ce_component values read (others, e.g. transformer or
    # explainer, are skipped and counted).
    components: list[str] | None = None
    # seldon: when set, only messages whose `pipeline` header is one of these are read.
    pipelines: list[str] | None = None

    @model_validator(mode="after")
    def _type_specific(self) -> FormatConfig:
        if self.components is not None and self.type != "kserve_cloudevents":
            raise ValueError("components applies to type kserve_cloudevents only")
        if self.pipelines is not None and self.type != "seldon":
            raise ValueError("pipelines applies to type seldon only")
        if self.columns is not None and len(set(self.columns)) != len(self.columns):
            raise ValueError("columns must be unique")
        return self

    @property
    def read_components(self) -> frozenset[str]:
        return frozenset(self.components if self.components is not None else ["predictor"])


class TraceHeadersConfig(_Strict):
    """Input headers copied into joined events, review messages and guardrail alerts."""

    names: list[str] = Field(default_factory=lambda: list(DEFAULT_TRACE_HEADERS), max_length=32)
    max_length: int = Field(256, ge=8, le=4096)
