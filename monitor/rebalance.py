"""Rebalance listeners that never block kafka-python's network thread.

kafka-python 3 calls rebalance listeners on its network thread, which must stay free for
heartbeats and for the very requests the listener's work makes (a checkpoint's writes, a
commit). The blocking work runs on a worker thread and the listener awaits its future.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kafka.future import Future


def in_worker_thread(function: Callable[..., Any], *args: Any, name: str) -> Future:
    """Run ``function(*args)`` on a new daemon thread; the future carries its outcome."""
    future = Future()

    def work() -> None:
        try:
            future.success(function(*args))
        except BaseException as exc:
            future.failure(exc)

    threading.Thread(target=work, name=name, daemon=True).start()
    return future
