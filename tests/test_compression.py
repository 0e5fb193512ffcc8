"""Compressed record batches (gzip, snappy, lz4, zstd) decode to exactly the events of
uncompressed ones.

Production topics are usually compressed; the embedded broker mishandles compressed
batches, so the batches are built and read in memory with kafka-python's own record
format code — the same code its producer writes with and its consumer's fetcher reads
with. Each compressed body is also decompressed with the codec library directly (and the
snappy framing parsed here), so the bytes are the standard frames a Java producer writes,
not merely something kafka-python can read back.
"""

from __future__ import annotations

import gzip
import struct
from typing import Any

import lz4.frame
import numpy as np
import pytest
import snappy
import zstandard
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder
from prometheus_client import CollectorRegistry

from monitor.codecs import CODECS, missing_codecs
from monitor.config import Config, InputLimits
from monitor.decoder import Decoder
from monitor.demo.traffic import DEMO_FEATURES, TrafficGenerator, features_config
from monitor.metrics import Metrics
from monitor.pipeline import Pipeline
from monitor.replay import FileRecord

TOPIC = "driftd.features"
PARTITION = 3
MODEL = "credit-risk"
LIMITS = InputLimits(max_message_bytes=65536)
# Kafka's attribute bits for the codec of a v2 record batch (KIP-98 format).
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
HEADER_SIZE = 61  # a v2 batch header; the (compressed) records follow it
SNAPPY_XERIAL_MAGIC = b"\x82SNAPPY\x00"
NOW = 1_764_400_000.0
CONFIG = Config.model_validate(
    {
        "topics": {"features": TOPIC, "predictions": None, "labels": None},
        "limits": LIMITS.model_dump(),
        "models": {
            MODEL: {
                "features": features_config(DEMO_FEATURES),
                "reference": {"warmup_events": 300},
                "windows": [{"type": "tumbling", "size": 100}],
            }
        },
    }
)


def messages() -> list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]:
    """Realistic traffic: full events with every demo feature, and malformed ones."""
    generator = TrafficGenerator(DEMO_FEATURES, seed=5, model=MODEL)
    values = generator.encode_events(generator.batch(600))
    bad = [m.payload for m in generator.malformed(30, np.random.default_rng(1), LIMITS)]
    values[100:100] = bad
    key = MODEL.encode()
    return [(key, value, [("trace", f"t{i}".encode())]) for i, value in enumerate(values)]


def build_batches(codec: str, payloads: list[Any], batch_records: int = 250) -> list[bytes]:
    """Record batches of ``batch_records`` each, at consecutive offsets, as a producer writes."""
    batches = []
    for start in range(0, len(payloads), batch_records):
        builder = MemoryRecordsBuilder(
            magic=2, compression_type=CODEC_IDS[codec], batch_size=4 << 20, offset=start
        )
        for i, (key, value, headers) in enumerate(payloads[start : start + batch_records]):
            timestamp = 1_764_300_000_000 + start + i
            assert builder.append(timestamp, key, value, headers) is not None
        builder.close()
        batches.append(bytes(builder.buffer()))
    return batches


def read_batches(batches: list[bytes]) -> tuple[list[FileRecord], list[int]]:
    """Records and each batch's codec id, read with kafka-python's MemoryRecords."""
    records = MemoryRecords(b"".join(batches))
    out: list[FileRecord] = []
    codecs: list[int] = []
    while records.has_next():
        batch = records.next_batch()
        codecs.append(batch.compression_type)
        for r in batch:
            out.append(
                FileRecord(
                    TOPIC,
                    PARTITION,
                    r.offset,
                    r.timestamp,
                    value=r.value,
                    key=r.key,
                    headers=list(r.headers),
                )
            )
    return out, codecs


def unsnappy_xerial(body: bytes) -> bytes:
    """The xerial snappy framing Kafka uses: a 16-byte header, then (length, block) pairs."""
    assert body[:8] == SNAPPY_XERIAL_MAGIC
    out, cursor = bytearray(), 16
    while cursor < len(body):
        (length,) = struct.unpack_from(">i", body, cursor)
        cursor += 4
        out += snappy.uncompress(body[cursor : cursor + length])
        cursor += length
    return bytes(out)


DECOMPRESS = {
    "gzip": gzip.decompress,
    "snappy": unsnappy_xerial,
    "lz4": lz4.frame.decompress,
    "zstd": lambda body: zstandard.ZstdDecompressor().decompress(body, max_output_size=1 << 24),
}


def test_every_codec_is_installed() -> None:
    assert [c.name for c in CODECS] == ["gzip", "snappy", "lz4", "zstd"]
    assert missing_codecs() == []


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches_decode_to_the_same_events(codec: str) -> None:
    payloads = messages()
    plain_batches = build_batches("none", payloads)
    packed_batches = build_batches(codec, payloads)

    plain, plain_codecs = read_batches(plain_batches)
    packed, packed_codecs = read_batches(packed_batches)
    # Really compressed (kafka-python falls back to none when a codec gains nothing).
    assert plain_codecs == [0, 0, 0]
    assert packed_codecs == [CODEC_IDS[codec]] * 3
    assert sum(map(len, packed_batches)) < sum(map(len, plain_batches)) / 2
    assert packed == plain
    assert [(r.key, r.value, r.headers) for r in packed] == [(k, v, h) for k, v, h in payloads]
    assert [r.offset for r in packed] == list(range(len(payloads)))

    # The body is the codec's standard frame around the uncompressed records section.
    for plain_batch, packed_batch in zip(plain_batches, packed_batches, strict=True):
        assert DefaultRecordBatch(packed_batch).validate_crc()
        body = DECOMPRESS[codec](packed_batch[HEADER_SIZE:])
        assert body == plain_batch[HEADER_SIZE:]

    decoder = Decoder(CONFIG, now=lambda: NOW)
    events, rejected = decoder.decode(packed)
    plain_events, plain_rejected = decoder.decode(plain)
    assert len(events) == 600
    assert len(rejected) == 30
    assert events == plain_events
    assert [(r.reason, r.detail, r.record) for r in rejected] == [
        (r.reason, r.detail, r.record) for r in plain_rejected
    ]


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_pipeline_outputs_and_metrics_do_not_depend_on_compression(codec: str) -> None:
    def run(records: list[FileRecord]) -> tuple[list[Any], dict[tuple[str, str], float]]:
        registry = CollectorRegistry()
        pipeline = Pipeline(CONFIG, Metrics(registry), now=lambda: NOW)
        outputs = pipeline.process(records)
        samples = {
            (sample.name, repr(sorted(sample.labels.items()))): sample.value
            for family in registry.collect()
            for sample in family.samples
            if not sample.name.startswith("driftd_batch_duration")
        }
        return outputs, samples

    payloads = messages()
    plain_outputs, plain_samples = run(read_batches(build_batches("none", payloads))[0])
    outputs, samples = run(read_batches(build_batches(codec, payloads))[0])
    consumed = ("driftd_records_consumed_total", repr([("topic", TOPIC)]))
    assert samples[consumed] == len(payloads)
    assert sum(o.topic == CONFIG.topics.dead_letter for o in outputs) == 30
    # Dead letters and alerts (the small windows' noise fires a few PSI warnings) alike.
    assert outputs == plain_outputs
    assert samples == plain_samples
