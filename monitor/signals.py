"""Process signals, the way uvicorn's server handles them: the first SIGTERM or SIGINT
asks the main loop to finish and shut down gracefully, a second one exits at once; SIGHUP
asks for a configuration reload. Handlers only set flags; the main loop acts on them."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any


class Signals:
    def __init__(self, log: Any, stop: Callable[[], None], hangup: Callable[[], None]) -> None:
        self.log = log
        self._stop = stop
        self._hangup = hangup
        self.received = 0

    def install(self) -> None:
        # Python delivers signals to the main thread only (tests run daemons on others).
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hangup)

    def _on_hangup(self, _signum: int, _frame: FrameType | None) -> None:
        self._hangup()

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.received += 1
        name = signal.Signals(signum).name
        if self.received > 1:
            self.log.warning("forced_exit", signal=name)
            os._exit(1)
        self.log.info("shutdown_requested", signal=name)
        self._stop()
