"""Rebalance listeners that never block kafka-python's network thread.

kafka-python 3 calls rebalance listeners on its network thread, which must stay free for
heartbeats and for the very requests the listener's work makes (a checkpoint's writes, a
commit). The blocking work runs on a worker thread and the listener awaits its future.

That network thread does not notice a future resolved on another thread: the resolution
queues the listener to resume, but the thread sleeps on, until a timer or a socket wakes
it. After an eviction no heartbeat timer runs, and the main thread waits in ``poll()`` for
the listener, so the whole consumer could stand still for minutes. So the worker, once its
future is resolved, makes one call that goes through the network thread's queue, and that
wakes it: ``bootstrap()`` without ``refresh``, which with metadata already known only does
that round trip.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kafka.future import Future

WAKE_TIMEOUT_MS = 5_000


def in_worker_thread(function: Callable[..., Any], *args: Any, name: str, consumer: Any) -> Future:
    """Run ``function(*args)`` on a new daemon thread; the future carries its outcome, and
    ``consumer``'s network thread is woken to resume whoever awaits it."""
    future = Future()

    def work() -> None:
        try:
            future.success(function(*args))
        except BaseException as exc:
            future.failure(exc)
        wake(consumer)

    threading.Thread(target=work, name=name, daemon=True).start()
    return future


def wake(consumer: Any) -> None:
    """One round trip through ``consumer``'s network thread (nothing if it is closed)."""
    try:
        consumer.bootstrap(timeout_ms=WAKE_TIMEOUT_MS, refresh=False)
    except Exception:  # closed, or not reachable: nothing waits on it then
        return
