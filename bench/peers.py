"""Peer tools on the same windows (run by the interpreter that has them installed).

Standalone on purpose: the peers pin library versions driftd's environment does not use
(numpy 1.x), so ``python -m bench`` runs this file with the peers' interpreter, hands it
the windows as an ``.npz`` file and reads one JSON line back. Each peer is timed on one
drift computation of 20 numeric + 3 categorical columns, reference vs current, its
reference-side preparation excluded where its API allows.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from typing import Any

import numpy as np


def frames(path: str) -> tuple[Any, Any, list[str], list[str]]:
    import pandas as pd

    w = np.load(path)
    numeric = sorted(k[4:] for k in w.files if k.startswith("ref_f"))
    categorical = sorted(k[4:] for k in w.files if k.startswith("ref_c"))
    ref = pd.DataFrame({n: w[f"ref_{n}"] for n in numeric + categorical})
    cur = pd.DataFrame({n: w[f"cur_{n}"] for n in numeric + categorical})
    for name in categorical:
        ref[name] = ref[name].map(lambda c: f"k{c}")
        cur[name] = cur[name].map(lambda c: f"k{c}")
    return ref, cur, numeric, categorical


def best(function: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def evidently(ref: Any, cur: Any, numeric: list[str], categorical: list[str]) -> float:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    ref_ds = Dataset.from_pandas(ref, data_definition=definition)
    cur_ds = Dataset.from_pandas(cur, data_definition=definition)
    report = Report([DataDriftPreset()])
    return best(lambda: report.run(current_data=cur_ds, reference_data=ref_ds), 1)


def alibi(ref: Any, cur: Any, numeric: list[str], categorical: list[str]) -> float:
    from alibi_detect.cd import TabularDrift

    columns = numeric + categorical
    codes = {name: {f"k{i}": i for i in range(10)} for name in categorical}
    x_ref = ref[columns].replace(codes).to_numpy(dtype=np.float32)
    x_cur = cur[columns].replace(codes).to_numpy(dtype=np.float32)
    per_feature = {columns.index(name): None for name in categorical}
    detector = TabularDrift(x_ref, p_val=0.05, categories_per_feature=per_feature)
    return best(lambda: detector.predict(x_cur), 5)


def nannyml(ref: Any, cur: Any, numeric: list[str], categorical: list[str]) -> float:
    import nannyml as nml

    calculator = nml.UnivariateDriftCalculator(
        column_names=numeric + categorical,
        continuous_methods=["kolmogorov_smirnov"],
        categorical_methods=["chi2"],
        chunk_size=len(cur),
    )
    calculator.fit(ref)
    return best(lambda: calculator.calculate(cur), 5)


def main() -> None:
    warnings.filterwarnings("ignore")
    ref, cur, numeric, categorical = frames(sys.argv[1])
    results: dict[str, Any] = {}
    for name, function in (("evidently", evidently), ("alibi_detect", alibi), ("nannyml", nannyml)):
        try:
            results[name] = function(ref, cur, numeric, categorical)
        except ImportError:
            results[name] = None
        except Exception as exc:  # a peer's API changed: say so, keep the others
            results[name] = f"failed: {type(exc).__name__}: {str(exc)[:120]}"
    versions = {}
    for module in ("evidently", "alibi_detect", "nannyml", "numpy", "pandas"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:
            versions[module] = None
    print(json.dumps({"seconds": results, "versions": versions}))


if __name__ == "__main__":
    main()
