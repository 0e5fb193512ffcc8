"""The result object every detector returns.

A :class:`DriftResult` is a small, immutable, JSON-friendly record of one test of one
feature window against its reference.

>>> from detectors.result import DriftResult
>>> result = DriftResult.create(
...     test="ks", statistic=0.25, p_value=0.001, alpha=0.05, threshold=0.1,
...     effect_exceeded=True, n_reference=100, n_current=50, explanation={},
... )
>>> result.drifted
True
>>> result.to_dict()["p_value"]
0.001

The verdict is deliberately split in two: ``effect_exceeded`` (is the effect large enough
to matter?) and the raw ``p_value`` (is it statistically significant?). The daemon corrects
the p-values of all features of a window for multiple testing and then re-decides with
``corrected_p < alpha and effect_exceeded``; ``drifted`` is only the standalone verdict.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DriftResult:
    """Outcome of one drift test.

    Parameters
    ----------
    test
        Short name of the test: ``"ks"``, ``"psi"``, ``"chi2"``, ``"wasserstein"`` or
        ``"jensenshannon"``.
    statistic
        The test statistic (or distance).
    p_value
        Raw, uncorrected p-value; ``None`` for distance-only tests.
    alpha
        Significance level used for the standalone verdict; ``None`` for distance-only tests.
    threshold
        Minimum effect that counts as drift.
    effect_exceeded
        Whether the effect reached ``threshold``.
    drifted
        Standalone verdict: ``effect_exceeded and (p_value is None or p_value < alpha)``.
    n_reference
        Number of reference observations.
    n_current
        Number of current observations the test used (missing values excluded).
    explanation
        JSON-safe details (summaries, top contributing bins or categories).
    """

    test: str
    statistic: float
    p_value: float | None
    alpha: float | None
    threshold: float
    effect_exceeded: bool
    drifted: bool
    n_reference: int
    n_current: int
    explanation: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        *,
        test: str,
        statistic: float,
        p_value: float | None,
        alpha: float | None,
        threshold: float,
        effect_exceeded: bool,
        n_reference: int,
        n_current: int,
        explanation: dict[str, Any],
    ) -> DriftResult:
        """Build a result, deriving ``drifted`` so that the verdict rule lives in one place."""
        if (p_value is None) != (alpha is None):
            raise ValueError("p_value and alpha must both be set or both be None")
        # Coerce numpy scalars to builtins so that to_dict() is JSON-serialisable as is.
        p_value = None if p_value is None else float(p_value)
        alpha = None if alpha is None else float(alpha)
        effect_exceeded = bool(effect_exceeded)
        significant = p_value is None or (alpha is not None and p_value < alpha)
        return cls(
            test=test,
            statistic=float(statistic),
            p_value=p_value,
            alpha=alpha,
            threshold=float(threshold),
            effect_exceeded=effect_exceeded,
            drifted=effect_exceeded and significant,
            n_reference=int(n_reference),
            n_current=int(n_current),
            explanation=explanation,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary (a deep copy: mutating it leaves the result intact)."""
        return {
            "test": self.test,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "alpha": self.alpha,
            "threshold": self.threshold,
            "effect_exceeded": self.effect_exceeded,
            "drifted": self.drifted,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "explanation": copy.deepcopy(self.explanation),
        }
