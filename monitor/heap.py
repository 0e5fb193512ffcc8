"""Garbage-collector settings for a long-running process with a batch hot path.

A batch creates tens of thousands of short-lived objects (records, tuples, lists). With
CPython's default thresholds that starts a young-generation pass every 700 allocations
and, every hundred of those, a full pass over every object the process holds: the
imported libraries alone are hundreds of thousands. Measured on the benchmark's pipeline,
the collector took about a sixth of the time.

So, once startup has loaded everything that lives as long as the process, those objects
are moved out of the collector's view (``gc.freeze``, as large Python services do), and
young passes start every ``YOUNG_THRESHOLD`` allocations instead. Cycles are still found
and freed, only in fewer, larger passes; the pipeline's own state is numpy arrays and
untracked structs, so memory stays bounded by the configuration, as before.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000


def settle() -> None:
    """Call once after startup, before the main loop."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
