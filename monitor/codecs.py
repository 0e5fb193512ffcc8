"""The compression codecs of Kafka record batches, checked before the daemon starts.

Producers choose a topic's compression (gzip, snappy, lz4 or zstd), not driftd: a consumer
must read all four. kafka-python imports each codec's library lazily and only fails when
the first batch compressed with it arrives — mid-stream, for every record of the batch. So
a missing library is reported at startup (and by ``driftd check-config``) instead, with
the package that provides it. driftd's dependencies install all of them.

>>> missing_codecs()
[]
>>> check_codecs()
"""

from __future__ import annotations

from dataclasses import dataclass

from kafka import codec

from monitor.errors import DriftdError


@dataclass(frozen=True, slots=True)
class Codec:
    name: str
    package: str  # the PyPI distribution kafka-python imports it from

    def available(self) -> bool:
        checks = {
            "gzip": codec.has_gzip,
            "snappy": codec.has_snappy,
            "lz4": codec.has_lz4,
            "zstd": codec.has_zstd,
        }
        return bool(checks[self.name]())


CODECS = (
    Codec("gzip", "the Python standard library"),
    Codec("snappy", "python-snappy"),
    Codec("lz4", "lz4"),
    Codec("zstd", "zstandard"),
)


class CodecError(DriftdError):
    """A compression codec kafka-python needs to read record batches is not installed."""


def missing_codecs() -> list[Codec]:
    return [c for c in CODECS if not c.available()]


def check_codecs() -> None:
    """Raise :class:`CodecError` naming every codec that cannot be read, and its package."""
    missing = missing_codecs()
    if not missing:
        return
    names = ", ".join(f"{c.name} (package {c.package})" for c in missing)
    packages = " ".join(c.package for c in missing)
    raise CodecError(
        f"compression codec(s) missing: {names}. Producers choose the compression of a "
        f"topic, so driftd must read every codec; install with `pip install {packages}` "
        "or reinstall driftd with its dependencies"
    )
