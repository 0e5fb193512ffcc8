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

Streaming (concept-drift) detectors wrap river's: they are fed a signal value by value
(``update_many``), return a :class:`ChangePoint` per detection, and live in their own registry,
:data:`STREAM_DETECTORS`, rebuilt with :func:`stream_from_state`.

>>> sorted(detectors.STREAM_DETECTORS)
['adwin', 'ddm', 'kswin', 'page_hinkley']
>>> adwin = detectors.ADWINDetector()
>>> adwin.update_many([0.0, 1.0, 0.0])
[]
>>> clone = detectors.stream_from_state(json.loads(json.dumps(adwin.to_state())))
>>> clone.n_seen, clone.estimation
(3, 0.3333333333333333)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from detectors.adwin import ADWINDetector
from detectors.change_point import ChangePoint
from detectors.chi2 import ChiSquareTest
from detectors.correction import benjamini_hochberg, bonferroni
from detectors.ddm import DDMDetector
from detectors.jensenshannon import CategoricalJensenShannonTest, JensenShannonTest
from detectors.ks import KSTest
from detectors.kswin import KSWINDetector
from detectors.page_hinkley import PageHinkleyDetector
from detectors.psi import CategoricalPSITest, PSITest
from detectors.result import DriftResult
from detectors.sample import CurrentSample
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


StreamDetector = ADWINDetector | PageHinkleyDetector | KSWINDetector | DDMDetector

# Read-only, like DETECTORS. A separate mapping: these detectors have another interface.
STREAM_DETECTORS: Mapping[str, type[StreamDetector]] = MappingProxyType(
    {
        cls.state_type: cls
        for cls in (ADWINDetector, PageHinkleyDetector, KSWINDetector, DDMDetector)
    }
)


def stream_from_state(state: dict[str, Any]) -> StreamDetector:
    """Rebuild any streaming detector from its ``to_state()`` dictionary."""
    detector_type = state.get("type") if isinstance(state, dict) else None
    if not isinstance(detector_type, str) or detector_type not in STREAM_DETECTORS:
        raise ValueError(f"unknown streaming detector type {detector_type!r}")
    return STREAM_DETECTORS[detector_type].from_state(state)


__all__ = [
    "DETECTORS",
    "STREAM_DETECTORS",
    "ADWINDetector",
    "CategoricalJensenShannonTest",
    "CategoricalPSITest",
    "ChangePoint",
    "ChiSquareTest",
    "CurrentSample",
    "DDMDetector",
    "Detector",
    "DriftResult",
    "JensenShannonTest",
    "KSTest",
    "KSWINDetector",
    "PSITest",
    "PageHinkleyDetector",
    "StreamDetector",
    "WassersteinTest",
    "benjamini_hochberg",
    "bonferroni",
    "from_state",
    "stream_from_state",
]
