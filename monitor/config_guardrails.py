"""Config section of guardrails: declarative rules evaluated on every decision of a model.

Each rule has a unique ``name``, a ``kind`` and an ``action``. Checks that need the
model's feature declarations (unknown feature, wrong type, defaults, the expression) are
done when the rules are compiled (``monitor.guardrails.compile_rules``), which
``ModelConfig`` does while it validates, so ``driftd check-config`` reports them.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# alert: raise an alert; review: send the decision to the review topic;
# block: hold it back from the approved topic (and send it to review).
Action = Literal["alert", "review", "block"]

# Rule names become metric label values and alert keys: keep them plain.
_RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    action: Action

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _RULE_NAME.match(value):
            raise ValueError(f"rule name {value!r}: letters, digits, '_', '.', '-' only")
        return value


def _check_bounds(rule: str, low: float | None, high: float | None, words: str) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError(f"guardrail {rule!r}: {words} are inverted ({low:g} > {high:g})")


class RangeRule(_Rule):
    """A numeric feature outside ``[min, max]``; a missing value is not a violation."""

    kind: Literal["range"]
    feature: str
    # Either bound may be left open. With neither, the feature's declared `range` is used.
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> RangeRule:
        _check_bounds(self.name, self.min, self.max, "min and max")
        return self


class RequiredRule(_Rule):
    """Listed features missing (default: every feature declared ``required: true``)."""

    kind: Literal["required"]
    features: list[str] | None = Field(None, min_length=1)


class CategoriesRule(_Rule):
    """A categorical feature's value not in ``allowed`` (default: declared ``categories``)."""

    kind: Literal["categories"]
    feature: str
    allowed: list[str] | None = Field(None, min_length=1)


class ScoreBandRule(_Rule):
    """``prediction.score`` within ``[low, high]``, or outside it with ``outside: true``."""

    kind: Literal["score_band"]
    low: float
    high: float
    outside: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> ScoreBandRule:
        _check_bounds(self.name, self.low, self.high, "low and high")
        return self


class ExpressionRule(_Rule):
    """A boolean SQL expression over ``features``, ``prediction``, ``model``, ``version``."""

    kind: Literal["expression"]
    expression: str = Field(min_length=1, max_length=4000)


class AggregateRule(_Rule):
    """A statistic over the last ``window`` decisions outside ``[min, max]``: an alert."""

    kind: Literal["aggregate"]
    action: Action = "alert"
    statistic: Literal["positive_rate", "mean_score", "missing_rate"]
    # The feature whose missing_rate is watched (missing_rate only).
    feature: str | None = None
    window: int = Field(ge=10, le=1_000_000)
    # Evaluated after every `every` decisions (default: once per window).
    every: int | None = Field(None, ge=1)
    min: float | None = None
    max: float | None = None
    # positive_rate: what makes a decision positive. label_or_score takes the predicted
    # label where there is one and `score >= score_threshold` otherwise.
    positive: Literal["label_or_score", "label", "score"] = "label_or_score"
    positive_label: float = 1.0
    score_threshold: float = 0.5

    @model_validator(mode="after")
    def _consistent(self) -> AggregateRule:
        name = self.name
        if self.action != "alert":
            raise ValueError(
                f"guardrail {name!r}: an aggregate rule can only alert (action: alert), "
                f"not {self.action}: it judges a window, not a single decision"
            )
        if self.min is None and self.max is None:
            raise ValueError(f"guardrail {name!r}: set min, max or both")
        _check_bounds(name, self.min, self.max, "min and max")
        if self.statistic == "missing_rate" and self.feature is None:
            raise ValueError(f"guardrail {name!r}: missing_rate needs a feature")
        if self.statistic != "missing_rate" and self.feature is not None:
            raise ValueError(f"guardrail {name!r}: feature applies to missing_rate only")
        if self.every is not None and self.every > self.window:
            raise ValueError(f"guardrail {name!r}: every must not exceed window")
        return self

    @property
    def interval(self) -> int:
        return self.every if self.every is not None else self.window


GuardrailConfig = Annotated[
    RangeRule | RequiredRule | CategoriesRule | ScoreBandRule | ExpressionRule | AggregateRule,
    Field(discriminator="kind"),
]

DecisionRule = RangeRule | RequiredRule | CategoriesRule | ScoreBandRule | ExpressionRule
