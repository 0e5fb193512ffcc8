"""What an evaluation hands back, and the error a bad rule raises when it is compiled."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

import numpy as np

from monitor.errors import DriftdError

# The kind and action of the hit a rule gets on a decision it failed to evaluate: the
# decision goes to human review, since nobody can say whether it is fine.
ERROR_KIND = "error"
ERROR_ACTION = "review"


class GuardrailError(DriftdError, ValueError):
    """A guardrail rule cannot be compiled; the message names the rule.

    A ``ValueError`` so that pydantic reports it as a validation error of the model's
    config, with its key path and line, in ``driftd check-config``.
    """


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One rule that hit one decision. ``reason`` may quote feature values: it is meant
    for the review topic and must never be logged."""

    rule: str
    kind: str
    action: str
    reason: str


@dataclass(frozen=True, slots=True)
class AggregateHit:
    """An aggregate rule changed state: ``firing`` True when it starts, False when it ends.

    ``window_end_index`` counts decisions since the guardrails started (0-based, carried
    over by snapshot/restore); ``batch_index`` is the same decision in the evaluated batch.
    """

    rule: str
    statistic: str
    value: float
    bounds: tuple[float | None, float | None]
    window_end_index: int
    batch_index: int
    firing: bool


class HitLists(Sequence[list[RuleHit]]):
    """The hits of every decision of a batch, in rule order; ``[]`` for one without.

    Reads like a list of lists, but keeps lists only for decisions that were hit: most
    are not, and a list per decision of every batch was a tenth of the guardrails' time.
    """

    __slots__ = ("_lists", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._lists: dict[int, list[RuleHit]] = {}

    def add(self, index: int, hit: RuleHit) -> None:
        self._lists.setdefault(index, []).append(hit)

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> list[RuleHit]: ...
    @overload
    def __getitem__(self, index: slice) -> list[list[RuleHit]]: ...
    def __getitem__(self, index: int | slice) -> list[RuleHit] | list[list[RuleHit]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._size))]
        if index < 0:
            index += self._size
        if not 0 <= index < self._size:
            raise IndexError(index)
        return list(self._lists.get(index, ()))

    def __iter__(self) -> Iterator[list[RuleHit]]:
        lists = self._lists
        return (list(lists.get(i, ())) for i in range(self._size))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, HitLists | list):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


@dataclass(slots=True)
class Evaluation:
    """Guardrail outcome of one batch of decisions, in the batch's order."""

    hits: HitLists
    blocked: np.ndarray
    review: np.ndarray
    # Decisions with a hit whose action is alert.
    alert: np.ndarray
    # Indices of the decisions with at least one hit: the only ones worth a look.
    flagged: np.ndarray
    aggregate: list[AggregateHit]
    # Per rule: decisions it hit (per-decision rules) or evaluations outside the bounds
    # (aggregate rules) in this batch; every configured rule is present.
    rule_counts: dict[str, int]
    # Per rule: decisions it failed to evaluate (those got an "error" hit).
    error_counts: dict[str, int] = field(default_factory=dict)
