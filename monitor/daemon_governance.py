"""The daemon's governance duties: the audit file, configuration audit records, reload.

Task chains are written by the pipeline with its other outputs; this writes the control
chain of this daemon process (``<group>/control/<host>-<pid>-<start ms>``): one record when
the config is loaded at start and one per reload, accepted or rejected. A reload runs
between two batches, under the daemon's processing lock.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from monitor.audit import AuditChain, audit_output, config_hash, config_record
from monitor.errors import DriftdError
from monitor.logs import get_logger
from monitor.outputs import OutputRecord
from monitor.pipeline import Pipeline
from monitor.reload import load_for_reload, references, swap_pipeline

if TYPE_CHECKING:
    from monitor.daemon import Daemon


class Governance:
    def __init__(self, daemon: Daemon, config_path: str | Path | None) -> None:
        self.daemon = daemon
        self.config_path = Path(config_path) if config_path is not None else None
        self.log = get_logger("driftd.governance")
        self.reload_requested = False
        config = daemon.config
        instance = f"{socket.gethostname()}-{os.getpid()}-{int(time.time() * 1000)}"
        self.control = AuditChain(f"{config.kafka.consumer.group_id}/control/{instance}")
        self._file: IO[bytes] | None = None
        if config.audit.enabled and config.audit.file is not None:
            config.audit.file.parent.mkdir(parents=True, exist_ok=True)
            self._file = config.audit.file.open("ab")
        self._mtime = self._config_mtime()
        self._next_watch = 0.0

    # -- audit ------------------------------------------------------------------------
    def started(self) -> None:
        self._config_event("loaded", {"path": str(self.config_path or "")})

    def sent(self, outputs: list[OutputRecord]) -> None:
        """Outputs acknowledged to the sink: copy the audit records to the file."""
        if self._file is None:
            return
        topic = self.daemon.config.audit.topic
        for output in outputs:
            if output.topic == topic:
                self._file.write(output.value + b"\n")
        self._file.flush()

    def sync(self) -> None:
        """Before offsets are committed: the audit file is on disk."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None

    def _config_event(self, action: str, detail: dict[str, Any]) -> None:
        daemon = self.daemon
        if not daemon.config.audit.enabled or daemon.sink is None:
            return
        record = config_record(
            self.control, action, daemon.config, references(daemon.pipeline), detail
        )
        output = audit_output(record, daemon.config.audit.topic)
        try:
            daemon.sink.send_all([output])
            daemon.sink.flush()
        except DriftdError as exc:
            self.log.error("audit_write_failed", error=str(exc))
            return
        self.sent([output])

    # -- reload -----------------------------------------------------------------------
    def _config_mtime(self) -> float | None:
        if self.config_path is None:
            return None
        try:
            return self.config_path.stat().st_mtime
        except OSError:
            return None

    def reload_due(self) -> bool:
        if self.reload_requested:
            return True
        watch = self.daemon.config.reload.watch_seconds
        if watch <= 0 or self.config_path is None or time.monotonic() < self._next_watch:
            return False
        self._next_watch = time.monotonic() + watch
        mtime = self._config_mtime()
        return mtime is not None and mtime != self._mtime

    def reload(self, trigger: str) -> bool:
        """Validate and apply the config file; on any problem keep the running config."""
        self.reload_requested = False
        self._mtime = self._config_mtime()
        daemon = self.daemon
        if self.config_path is None:
            self.log.warning("reload_ignored", reason="the daemon was not started from a file")
            return False
        try:
            new = load_for_reload(self.config_path, daemon.config)
            pipeline = Pipeline(new, daemon.metrics)  # loads and checks the profiles
            swap_pipeline(daemon.pipeline, pipeline)
        except (DriftdError, ValueError, OSError) as exc:
            problems = list(getattr(exc, "problems", [str(exc)]))
            self.log.error("reload_rejected", trigger=trigger, problems=problems)
            self._config_event("reload_rejected", {"trigger": trigger, "problems": problems})
            return False
        daemon.config, daemon.pipeline = new, pipeline
        self.log.info("reload_applied", trigger=trigger, config_hash=config_hash(new))
        self._config_event("reload_accepted", {"trigger": trigger})
        return True
