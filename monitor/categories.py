"""Categorical values as integer codes, with a bounded dictionary per feature.

Windows hold codes (int32), not strings: compact, fast to count and to checkpoint. The
dictionary grows with new values up to ``limit``; values past it share the overflow code,
so a feature with unbounded cardinality cannot grow memory without bound.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MISSING = -1
OVERFLOW = -2


class CategoryCoder:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self.values: list[str] = []
        self.index: dict[str, int] = {}
        self.overflowed = 0

    def encode(self, values: list[Any]) -> np.ndarray:
        index = self.index
        known = list(map(index.get, values))  # in C; None for missing or new values
        if None not in known:
            return np.array(known, dtype=np.int32)
        codes = np.empty(len(values), dtype=np.int32)
        for i, value in enumerate(values):
            code = index.get(value)
            if code is None:
                code = MISSING if value is None else self._add(value)
            codes[i] = code
        return codes

    def _add(self, value: str) -> int:
        if len(self.values) >= self.limit:
            self.overflowed += 1
            return OVERFLOW
        code = len(self.values)
        self.values.append(value)
        self.index[value] = code
        return code

    def decode(self, codes: np.ndarray) -> list[str | None]:
        values = self.values
        return [values[c] if c >= 0 else None for c in codes.tolist()]

    def counts_against(
        self, codes: np.ndarray, categories: list[str], unknown_to: str | None = None
    ) -> np.ndarray:
        """Counts per reference category plus the unseen bucket (last). Values outside
        ``categories`` (new ones and dictionary overflow) count as unseen, or as the
        category ``unknown_to`` when the reference pools rare values there."""
        position = {category: i for i, category in enumerate(categories)}
        unseen = position[unknown_to] if unknown_to is not None else len(categories)
        lookup = np.fromiter(
            (position.get(v, unseen) for v in self.values), dtype=np.int64, count=len(self.values)
        )
        present = codes[codes != MISSING]
        mapped = np.where(
            present >= 0, lookup[np.maximum(present, 0)] if lookup.size else unseen, unseen
        )
        return np.bincount(mapped, minlength=len(categories) + 1).astype(np.int64)

    def snapshot(self) -> dict[str, Any]:
        return {"values": list(self.values), "overflowed": self.overflowed}

    def restore(self, state: dict[str, Any]) -> None:
        self.values = list(state["values"])
        self.index = {value: code for code, value in enumerate(self.values)}
        self.overflowed = state["overflowed"]
