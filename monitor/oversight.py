"""The fairness and champion-challenger monitors of one task, behind one small interface.

The pipeline hands it every model's joined decisions and labelled decisions; it routes
them to the fairness monitor of the model, to the comparison of which the model is the
champion, and to the comparisons in which it is the challenger. Its state is part of the
task's checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.challenger import CHALLENGER, CHAMPION, ChallengerMonitor
from monitor.config import Config
from monitor.events import Event
from monitor.fairness import FairnessMonitor
from monitor.labels import Labelled
from monitor.metrics import Metrics
from monitor.outputs import OutputRecord


class Oversight:
    def __init__(
        self,
        config: Config,
        metrics: Metrics,
        observer: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        models = config.models
        self.fairness = {
            name: FairnessMonitor(name, config, metrics, observer)
            for name, model in models.items()
            if model.fairness is not None
        }
        self.champions = {
            name: ChallengerMonitor(name, config, metrics)
            for name, model in models.items()
            if model.challenger is not None
        }
        self.challenged: dict[str, list[ChallengerMonitor]] = {}
        for monitor in self.champions.values():
            self.challenged.setdefault(monitor.challenger, []).append(monitor)
        has_labels = config.topics.labels is not None
        # Models whose decisions must wait for labels on behalf of these monitors.
        self.wants_labels = (
            {name for name, f in self.fairness.items() if f.tracks_labels} | set(self.champions)
            if has_labels
            else set()
        )

    def decisions(self, model: str, events: list[Event]) -> list[OutputRecord]:
        outputs: list[OutputRecord] = []
        fairness = self.fairness.get(model)
        if fairness is not None:
            outputs += fairness.add(events)
        champion = self.champions.get(model)
        if champion is not None:
            outputs += champion.add(CHAMPION, events)
        for comparison in self.challenged.get(model, ()):
            outputs += comparison.add(CHALLENGER, events)
        return outputs

    def labelled(self, model: str, items: list[Labelled]) -> list[OutputRecord]:
        outputs: list[OutputRecord] = []
        fairness = self.fairness.get(model)
        if fairness is not None:
            outputs += fairness.add_labelled(items)
        champion = self.champions.get(model)
        if champion is not None:
            outputs += champion.add_labelled(items)
        return outputs

    def snapshot(self) -> dict[str, Any]:
        return {
            "fairness": {name: m.snapshot() for name, m in self.fairness.items()},
            "challengers": {name: m.snapshot() for name, m in self.champions.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        for name, fairness_state in state["fairness"].items():
            if name in self.fairness:
                self.fairness[name].restore(fairness_state)
        for name, challenger_state in state["challengers"].items():
            monitor = self.champions.get(name)
            # A checkpoint of a comparison with another challenger does not apply.
            if monitor is not None and challenger_state.get("challenger", monitor.challenger) == (
                monitor.challenger
            ):
                monitor.restore(challenger_state)

    def release(self) -> None:
        for fairness in self.fairness.values():
            fairness.release()
        for champion in self.champions.values():
            champion.release()
