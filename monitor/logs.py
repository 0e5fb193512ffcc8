"""structlog setup: JSON lines by default, a readable console when attached to a terminal.

Enrichment and redaction are small processors. Secrets and raw feature values never reach
a log line by default: keys that name a secret are masked, and keys that carry event
content are dropped unless ``logging.log_feature_values`` is on.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from monitor import __version__

SECRET_WORDS = ("password", "secret", "token", "routing_key", "api_key", "authorization")
CONTENT_KEYS = frozenset(
    {"features", "attributes", "feature_value", "values", "payload", "raw_event", "raw"}
)

EventDict = MutableMapping[str, Any]


def add_service(_: Any, __: str, event_dict: EventDict) -> EventDict:
    event_dict.setdefault("service", "driftd")
    event_dict.setdefault("version", __version__)
    return event_dict


def mask_secrets(_: Any, __: str, event_dict: EventDict) -> EventDict:
    for key in list(event_dict):
        if any(word in key.lower() for word in SECRET_WORDS):
            event_dict[key] = "***"
    return event_dict


class DropContent:
    """Removes event content (feature values, payloads) unless explicitly enabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, _: Any, __: str, event_dict: EventDict) -> EventDict:
        if not self.enabled:
            for key in CONTENT_KEYS.intersection(event_dict):
                event_dict[key] = "<redacted>"
        return event_dict


class ReadAfterClose(logging.Filter):
    """Keeps kafka-python's report of a read on a socket it has just closed out of the log.

    ``KafkaConsumer.close()`` closes connections from the caller's thread while the client's
    network thread may be between "socket readable" and ``recv()``; that read then finds
    the socket gone and logs an error with a traceback. Nothing is lost (the connection was
    being closed on purpose), so such a record only shows when kafka-python logs at debug.
    Any other failure to read, or one on a transport still open, passes unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        transport = record.args[0] if isinstance(record.args, tuple) and record.args else None
        closing = getattr(transport, "is_closing", None)
        if not isinstance(error, AttributeError) or closing is None or not closing():
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.exc_info, record.exc_text = None, None
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def configure(level: str = "info", fmt: str = "auto", log_feature_values: bool = False) -> None:
    renderer: Any
    if fmt == "console" or (fmt == "auto" and sys.stderr.isatty()):
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    else:
        renderer = structlog.processors.JSONRenderer()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_service,
        mask_secrets,
        DropContent(log_feature_values),
    ]
    numeric_level = getattr(logging, level.upper())
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Foreign libraries (kafka-python, httpx) log through the standard library: send their
    # records through the same processors so every line has one format.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    for noisy in ("kafka", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(numeric_level, logging.WARNING))
    # kafka-python's network thread warns whenever the GIL kept it waiting a few hundred
    # milliseconds, which a busy pipeline on a small machine does routinely.
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
    transport_log = logging.getLogger("kafka.net.transport")
    if not any(isinstance(known, ReadAfterClose) for known in transport_log.filters):
        transport_log.addFilter(ReadAfterClose())


def get_logger(name: str = "driftd") -> Any:
    return structlog.get_logger(name)
