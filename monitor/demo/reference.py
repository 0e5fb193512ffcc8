"""The demo's reference profile, built at start from generated "training data".

The demo uses the same path as production: a profile file, built by the same builder as
``driftd baseline``, checked against the config and loaded by the daemon.
"""

from __future__ import annotations

from pathlib import Path

from monitor.demo.traffic import DEMO_FEATURES, TrafficGenerator
from monitor.profile import Kind, save_profile
from monitor.profile_builder import ProfileBuilder

TRAINING_ROWS = 50_000
TRAINING_SEED = 1  # the live traffic uses another seed: same distributions, other draws


def build_demo_profile(path: Path, model: str = "credit-risk") -> Path:
    generator = TrafficGenerator(DEMO_FEATURES, seed=TRAINING_SEED, model=model)
    kinds: dict[str, Kind] = {
        spec.name: "numeric" if spec.is_numeric else "categorical" for spec in DEMO_FEATURES
    }
    builder = ProfileBuilder(model, None, kinds, score_column="score")
    batch = generator.batch(TRAINING_ROWS)
    builder.update({name: batch[name] for name in [*kinds, "score"]})
    save_profile(builder.finish(source_path="generated", source_format="synthetic"), path)
    return path
