"""Config hot reload: validate, check that only live settings changed, swap atomically.

Live (applied between two batches, state kept): everything under ``models.<name>`` except
the keys in :data:`RESTART_MODEL_KEYS` (so thresholds, tests, alert policy, guardrail rules,
concept detectors and reference profiles), and ``reload``. Everything else (Kafka, topics,
group, join, labels, limits, alert routing, audit, server, logging, checkpoints) and adding
or removing a model needs a restart; a reload that changes it is rejected, naming the keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.config import Config
from monitor.config_loader import load_config
from monitor.errors import ConfigError
from monitor.pipeline import Pipeline

# The shape of a model's stream state: changing these would not fit the checkpointed state.
RESTART_MODEL_KEYS = ("task", "features", "windows", "segments", "max_segments")
LIVE_TOP_KEYS = ("models", "reload")


def restart_only_changes(old: Config, new: Config) -> list[str]:
    """Key paths that differ between ``old`` and ``new`` and cannot change while running."""
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    changed = [k for k in before if k not in LIVE_TOP_KEYS and before[k] != after.get(k)]
    added = sorted(set(new.models) - set(old.models))
    removed = sorted(set(old.models) - set(new.models))
    if added or removed:
        changed.append(f"models (added {added}, removed {removed})")
    for model in sorted(set(old.models) & set(new.models)):
        for key in RESTART_MODEL_KEYS:
            if before["models"][model][key] != after["models"][model][key]:
                changed.append(f"models.{model}.{key}")
    return changed


def load_for_reload(path: str | Path, running: Config) -> Config:
    """The new config, or :class:`ConfigError` naming what is wrong or needs a restart."""
    new = load_config(path)
    restart = restart_only_changes(running, new)
    if restart:
        raise ConfigError(
            "needs a restart", [f"{path}: changing {key} needs a restart" for key in restart]
        )
    return new


def swap_pipeline(old: Pipeline, new: Pipeline) -> None:
    """Move every task's state from ``old`` to ``new``; all tasks or none (rolled back)."""
    blobs = {task: old.snapshot(task) for task in list(old.tasks)}
    for task in blobs:
        old.drop(task)
    moved: list[int] = []
    try:
        for task, blob in blobs.items():
            new.restore(task, blob)
            moved.append(task)
    except Exception:
        for task in moved:
            new.drop(task)
        for task, blob in blobs.items():
            old.restore(task, blob)
        raise


def references(pipeline: Pipeline) -> dict[str, Any]:
    """Each model's reference profiles (content hashes), for configuration audit records."""
    catalog = pipeline.catalog
    out: dict[str, Any] = {}
    for model in catalog.default:
        default = catalog.default[model]
        out[model] = {
            "default": default.ident if default is not None else "warmup",
            "versions": {v: s.ident for v, s in catalog.versions[model].items()},
        }
    return out
