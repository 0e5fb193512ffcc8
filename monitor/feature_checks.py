"""The general path's checks of declared features, per model and feature column.

Events decoded one by one (halves, records the fast lane did not take) carry their
features as dictionaries; a batch's values of one feature are checked together, and only
the rows of a column that fails are looked at singly.
"""

from __future__ import annotations

from collections.abc import Mapping

from monitor.config import InputLimits, ModelConfig
from monitor.events import Event, Reasons, Rejected, SourceRecord, categorical_value


def check_features(
    events: list[Event],
    origins: list[SourceRecord],
    rejected: list[Rejected],
    models: Mapping[str, ModelConfig],
    limits: InputLimits,
) -> list[Event]:
    """Per model and feature, check the column at once; only bad rows are looked at singly."""
    bad: dict[int, tuple[str, str]] = {}
    by_model: dict[str, list[int]] = {}
    for index, event in enumerate(events):
        if event.features is not None:
            by_model.setdefault(event.model, []).append(index)
    for model, indices in by_model.items():
        spec = models[model].features
        feature_maps = [events[i].features for i in indices]
        for name, feature in spec.items():
            column = [f.get(name) for f in feature_maps]  # type: ignore[union-attr]
            kinds = {type(v) for v in column}
            if feature.required and type(None) in kinds:
                for i, v in zip(indices, column, strict=True):
                    if v is None:
                        bad.setdefault(
                            i, (Reasons.MISSING_FEATURE, f"feature {name!r} is required")
                        )
            if feature.type == "numeric":
                if kinds - {float, type(None)}:
                    for i, v in zip(indices, column, strict=True):
                        if v is not None and type(v) is not float:
                            bad.setdefault(
                                i, (Reasons.WRONG_TYPE, f"feature {name!r} must be a number")
                            )
            elif kinds - {str, type(None)}:
                for i, v in zip(indices, column, strict=True):
                    if not isinstance(v, str) and v is not None:
                        events[i].features[name] = categorical_value(v)  # type: ignore[index]
            if str in kinds:
                limit = limits.max_category_length
                for i, v in zip(indices, column, strict=True):
                    if isinstance(v, str) and len(v) > limit:
                        bad.setdefault(
                            i, (Reasons.WRONG_TYPE, f"feature {name!r} longer than {limit}")
                        )
    if not bad:
        return events
    kept = []
    for index, event in enumerate(events):
        if index in bad:
            reason, detail = bad[index]
            rejected.append(Rejected(reason, detail, origins[index]))
        else:
            kept.append(event)
    return kept
