"""Probe semantics: liveness follows the main loop's heartbeat; readiness also turns false
when the loop has not come round for ``readiness_stall_s``, before it can say why."""

from __future__ import annotations

from monitor.http import HealthState


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def health_with_clock() -> tuple[HealthState, Clock]:
    clock = Clock()
    health = HealthState(liveness_timeout_s=60, readiness_stall_s=10)
    health._clock = clock
    health.beat()
    return health, clock


def test_ready_while_the_loop_comes_round() -> None:
    health, clock = health_with_clock()
    health.ready, health.reasons = True, []
    clock.now += 9.9
    assert health.readiness() == (True, [])
    assert health.alive


def test_a_stalled_loop_is_not_ready_but_still_alive() -> None:
    health, clock = health_with_clock()
    health.ready, health.reasons = True, []
    clock.now += 12
    ready, reasons = health.readiness()
    assert not ready and reasons == ["main loop busy for 12 s"]
    assert health.alive
    clock.now += 50
    assert not health.alive
    health.beat()
    assert health.readiness() == (True, []) and health.alive


def test_reasons_of_the_loop_are_kept() -> None:
    health, clock = health_with_clock()
    health.ready, health.reasons = False, ["broker unreachable"]
    assert health.readiness() == (False, ["broker unreachable"])
    clock.now += 30
    assert health.readiness() == (False, ["broker unreachable", "main loop busy for 30 s"])
