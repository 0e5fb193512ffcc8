"""Pure statistical drift detectors for driftd.

Every detector takes its reference in the constructor (preprocessing it once), tests a
current window with ``.test(current)`` and returns a :class:`DriftResult`. Detectors
serialise with ``to_state()`` (JSON-compatible, with ``"type"`` and ``"state_version"``) and
are rebuilt with :func:`from_state`, which dispatches on ``state["type"]``.

>>> import json
>>> import numpy as np
>>> import detectors
>>> detector = detectors.KSTest(np.arange(100.0))
>>> clone = detectors.from_state(json.loads(json.dumps(detector.to_state())))
>>> clone.test(np.arange(50.0)) == detector.test(np.arange(50.0))
True
>>> sorted(detectors.DETECTORS)[:3]
['chi2', 'jensenshannon', 'jensenshannon_categorical']
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from detectors.chi2 import ChiSquareTest
from detectors.correction import benjamini_hochberg, bonferroni
from detectors.jensenshannon import CategoricalJensenShannonTest, JensenShannonTest
from detectors.ks import KSTest
from detectors.psi import CategoricalPSITest, PSITest
from detectors.result import DriftResult
from detectors.wasserstein import WassersteinTest

Detector = (
    KSTest
    | PSITest
    | CategoricalPSITest
    | ChiSquareTest
    | WassersteinTest
    | JensenShannonTest
    | CategoricalJensenShannonTest
)

# Read-only view: the registry is shared by every caller and must not be mutated at runtime.
DETECTORS: Mapping[str, type[Detector]] = MappingProxyType(
    {
        cls.state_type: cls
        for cls in (
            KSTest,
            PSITest,
            CategoricalPSITest,
            ChiSquareTest,
            WassersteinTest,
            JensenShannonTest,
            CategoricalJensenShannonTest,
        )
    }
)


def from_state(state: dict[str, Any]) -> Detector:
    """Rebuild any detector from its ``to_state()`` dictionary."""
    detector_type = state.get("type") if isinstance(state, dict) else None
    if not isinstance(detector_type, str) or detector_type not in DETECTORS:
        raise ValueError(f"unknown detector type {detector_type!r}")
    return DETECTORS[detector_type].from_state(state)


__all__ = [
    "DETECTORS",
    "CategoricalJensenShannonTest",
    "CategoricalPSITest",
    "ChiSquareTest",
    "Detector",
    "DriftResult",
    "JensenShannonTest",
    "KSTest",
    "PSITest",
    "WassersteinTest",
    "benjamini_hochberg",
    "bonferroni",
    "from_state",
]
