"""Narrowing a failed evaluation down to the decisions that fail.

Vectorised evaluators fail for a whole batch when one value cannot be evaluated. The
batch is then split in halves, breadth first, until every slice either evaluates or is a
single failing decision — so only the decisions that fail get an error hit. Each slice
costs one evaluator call (~0.15 ms for polars), so the number of calls per rule and batch
is capped: a rule failing on thousands of decisions would otherwise cost a second per
batch. Decisions still undecided when the cap is reached get an error hit as well; they
go to review, the safe side.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

# Evaluator calls one rule may spend narrowing failures down in one batch.
MAX_SLICE_EVALUATIONS = 512

# Polars reports bad input as exceptions and, for a few internal errors, as a Rust panic,
# which pyo3 raises as a BaseException.
try:
    from polars.exceptions import PanicException
except ImportError:  # pragma: no cover - polars is a dependency
    PanicException = Exception  # type: ignore[assignment,misc]

FAILURES: tuple[type[BaseException], ...] = (Exception, PanicException)


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def isolate_failures(
    size: int,
    evaluate: Callable[[int, int], np.ndarray],
    budget: int = MAX_SLICE_EVALUATIONS,
) -> tuple[np.ndarray, dict[int, str]]:
    """``evaluate(start, stop)`` gives the mask of a slice or raises; returns the mask of
    the whole batch (False where undecided) and the failing decisions with their error."""
    matched = np.zeros(size, dtype=bool)
    errors: dict[int, str] = {}
    pending: deque[tuple[int, int]] = deque([(0, size)] if size else [])
    last_error = "not evaluated"
    while pending and budget > 0:
        start, stop = pending.popleft()
        budget -= 1
        try:
            matched[start:stop] = evaluate(start, stop)
        except FAILURES as exc:
            last_error = describe(exc)
            if stop - start == 1:
                errors[start] = last_error
            else:
                middle = (start + stop) // 2
                pending.extend([(start, middle), (middle, stop)])
    for start, stop in pending:
        for index in range(start, stop):
            errors[index] = f"not evaluated, too many failures in this batch ({last_error})"
    return matched, errors
