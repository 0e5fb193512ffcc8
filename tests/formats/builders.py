"""Realistic model-server messages and their native equivalents, from the specifications."""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from typing import Any

import msgspec

from tests.formats import wire

MODEL = "credit-risk"
REGIONS = ["eu", "us", "apac"]
_json = msgspec.json.encode


@dataclass
class Batch:
    """One request of ``n`` rows and its response; the native events they stand for."""

    request_id: str
    income: list[float]  # whole numbers: exact in FP32 too
    age: list[int]
    region: list[str]
    score: list[float]  # multiples of 1/1024: exact in FP32
    label: list[str]

    @property
    def n(self) -> int:
        return len(self.income)

    def ids(self) -> list[str]:
        if self.n == 1:
            return [self.request_id]
        return [f"{self.request_id}/{i}" for i in range(self.n)]

    # -- native equivalents ---------------------------------------------------------
    def native_features(
        self, ts: float | None = None, columns: tuple[str, ...] = ()
    ) -> list[bytes]:
        out = []
        for i, event_id in enumerate(self.ids()):
            row = {"income": self.income[i], "age": float(self.age[i]), "region": self.region[i]}
            features = {k: row[k] for k in columns} if columns else row
            body: dict[str, Any] = {"id": event_id, "model": MODEL, "features": features}
            if ts is not None:
                body["ts"] = ts
            out.append(_json(body))
        return out

    def native_predictions(
        self, ts: float | None = None, version: str | None = None
    ) -> list[bytes]:
        out = []
        for i, event_id in enumerate(self.ids()):
            body: dict[str, Any] = {
                "id": event_id,
                "model": MODEL,
                "prediction": {"score": self.score[i], "label": self.label[i]},
            }
            if ts is not None:
                body["ts"] = ts
            if version is not None:
                body["version"] = version
            out.append(_json(body))
        return out

    # -- Open Inference Protocol JSON -----------------------------------------------
    def v2_request_columns(self) -> dict[str, Any]:
        """One input per column, as pandas-codec clients (MLServer) send it."""
        n = self.n
        return {
            "id": self.request_id,
            "parameters": {"content_type": "pd"},
            "inputs": [
                {"name": "income", "shape": [n, 1], "datatype": "FP64", "data": self.income},
                {"name": "age", "shape": [n, 1], "datatype": "INT32", "data": self.age},
                {"name": "region", "shape": [n, 1], "datatype": "BYTES", "data": self.region},
            ],
        }

    def v2_request_matrix(self) -> dict[str, Any]:
        """One [N, 2] FP32 tensor (income, age), nested as clients often send it."""
        data = [[self.income[i], self.age[i]] for i in range(self.n)]
        return {
            "id": self.request_id,
            "inputs": [{"name": "input-0", "shape": [self.n, 2], "datatype": "FP32", "data": data}],
        }

    def v2_response(self, version: str | None = None) -> dict[str, Any]:
        n = self.n
        body: dict[str, Any] = {
            "model_name": MODEL,
            "id": self.request_id,
            "outputs": [
                {
                    "name": "probability",
                    "shape": [n, 2],
                    "datatype": "FP32",
                    "data": [x for s in self.score for x in (1 - s, s)],
                },
                {"name": "predict", "shape": [n, 1], "datatype": "BYTES", "data": self.label},
            ],
        }
        if version is not None:
            body["model_version"] = version
        return body

    # -- Open Inference Protocol protobuf -------------------------------------------
    def pb_request_columns(self, use_raw: bool) -> bytes:
        n = self.n
        return wire.infer_request(
            self.request_id,
            [
                ("income", "FP64", [n], self.income),
                ("age", "INT64", [n], self.age),
                ("region", "BYTES", [n], self.region),
            ],
            use_raw=use_raw,
            parameters={"content_type": "pd"},
        )

    def pb_request_matrix(self, use_raw: bool) -> bytes:
        flat = [x for i in range(self.n) for x in (self.income[i], float(self.age[i]))]
        return wire.infer_request(
            self.request_id, [("input-0", "FP32", [self.n, 2], flat)], use_raw=use_raw
        )

    def pb_response(self, use_raw: bool, version: str = "") -> bytes:
        n = self.n
        return wire.infer_response(
            self.request_id,
            [
                ("probability", "FP32", [n, 2], [x for s in self.score for x in (1 - s, s)]),
                ("predict", "BYTES", [n, 1], self.label),
            ],
            use_raw=use_raw,
            model_name=MODEL,
            model_version=version,
        )

    # -- KServe V1 --------------------------------------------------------------------
    def v1_request(self) -> dict[str, Any]:
        return {
            "instances": [
                {"income": self.income[i], "age": self.age[i], "region": self.region[i]}
                for i in range(self.n)
            ]
        }

    def v1_response(self) -> dict[str, Any]:
        pairs = zip(self.score, self.label, strict=True)
        return {"predictions": [{"probability": [1 - s, s], "predict": lb} for s, lb in pairs]}


def batches(count: int, seed: int, max_rows: int = 4, prefix: str = "req") -> list[Batch]:
    rng = random.Random(seed)
    result = []
    for b in range(count):
        n = rng.randint(1, max_rows)
        result.append(
            Batch(
                f"{prefix}-{b}",
                [float(rng.randint(10_000, 200_000)) for _ in range(n)],
                [rng.randint(18, 90) for _ in range(n)],
                [rng.choice(REGIONS) for _ in range(n)],
                [rng.randint(0, 1024) / 1024 for _ in range(n)],
                [rng.choice(["approve", "deny"]) for _ in range(n)],
            )
        )
    return result


# -- KServe CloudEvents --------------------------------------------------------------
CE_REQUEST = "org.kubeflow.serving.inference.request"
CE_RESPONSE = "org.kubeflow.serving.inference.response"


def ce_binary(
    ce_id: str, ce_type: str, time: str, component: str = "predictor", **extra: str
) -> list[tuple[str, bytes]]:
    """The headers of a binary-mode CloudEvent as the KServe logger sends it."""
    headers = {
        "ce_specversion": "1.0",
        "ce_id": ce_id,
        "ce_type": ce_type,
        "ce_source": "http://localhost:9081/",
        "ce_time": time,
        "ce_inferenceservicename": MODEL,
        "ce_namespace": "models",
        "ce_component": component,
        "ce_endpoint": "default",
        "content-type": "application/json",
        **extra,
    }
    return [(k, v.encode()) for k, v in headers.items()]


def ce_structured(
    ce_id: str,
    ce_type: str,
    time: str,
    body: Any,
    binary: bool = False,
    component: str = "predictor",
) -> bytes:
    """A structured-mode CloudEvent: JSON ``data``, or ``data_base64`` for a binary body."""
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": ce_id,
        "type": ce_type,
        "source": "http://localhost:9081/",
        "time": time,
        "inferenceservicename": MODEL,
        "namespace": "models",
        "component": component,
        "endpoint": "default",
    }
    if binary:
        envelope["datacontenttype"] = "application/octet-stream"
        envelope["data_base64"] = base64.b64encode(body).decode()
    else:
        envelope["datacontenttype"] = "application/json"
        envelope["data"] = body
    return _json(envelope)


STRUCTURED_HEADERS = [("content-type", b"application/cloudevents+json; charset=utf-8")]
