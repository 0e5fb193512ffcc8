"""Trace headers carried from input messages into driftd's outputs.

Only an allowlist of names (``trace_headers.names``) is kept, each value cut to
``trace_headers.max_length`` characters, so a producer cannot grow driftd's state or its
outputs through headers, and nothing but trace context leaves with them.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.config_formats import TraceHeadersConfig


class TraceHeaders:
    def __init__(self, config: TraceHeadersConfig) -> None:
        self.names = frozenset(name.lower() for name in config.names)
        self.max_length = config.max_length

    def pick(
        self,
        headers: Sequence[tuple[str, bytes | None]] | None,
        extra: dict[str, str] | None = None,
    ) -> dict[str, str] | None:
        carried: dict[str, str] = {}
        for name, value in headers or ():
            key = name.lower()
            if value is not None and key in self.names and key not in carried:
                carried[key] = value.decode("utf-8", errors="replace")[: self.max_length]
        for key, text in (extra or {}).items():
            if key in self.names and key not in carried:
                carried[key] = text[: self.max_length]
        return carried or None
