"""Throughput of guardrails, and of the expression evaluators that were considered.

Not a test (pytest collects test_*.py only). Run::

    python -m tests.guardrails.bench_guardrails            # driftd's guardrails
    python -m tests.guardrails.bench_guardrails --compare  # + simpleeval, cel-python, numexpr

``--compare`` needs ``pip install simpleeval cel-python numexpr`` (not dependencies).
The numbers are in docs/guardrails.md.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from monitor.config_loader import parse_config
from monitor.events import Event
from monitor.guardrails import Guardrails

EVENTS = 5000

CONFIG = """
models:
  credit-risk:
    features:
      income: {type: numeric, required: true, range: [0, 10000000]}
      age: {type: numeric, range: [18, 120]}
      debt_ratio: {type: numeric}
      tenure: {type: numeric}
      region: {type: categorical, required: true, categories: [eu, us, apac]}
      channel: {type: categorical, categories: [web, app, branch]}
    guardrails:
      - {name: income-range, kind: range, feature: income, action: block}
      - {name: age-range, kind: range, feature: age, action: review}
      - {name: required, kind: required, action: review}
      - {name: region-known, kind: categories, feature: region, action: alert}
      - {name: channel-known, kind: categories, feature: channel, action: alert}
      - {name: uncertain, kind: score_band, low: 0.45, high: 0.55, action: review}
      - name: poor-and-confident
        kind: expression
        action: review
        expression: features.income < 20000 and prediction.score > 0.9
      - name: old-version
        kind: expression
        action: alert
        expression: model = 'credit-risk' AND version <> '3'
      - name: senior-eu-uncertain
        kind: expression
        action: review
        expression: >-
          features.region IN ('eu', 'us') AND features.age >= 65
          AND prediction.score BETWEEN 0.45 AND 0.55
      - {name: approval-rate, kind: aggregate, statistic: positive_rate, window: 5000, max: 0.9}
"""

# The same three expressions in each per-row language.
EXPRESSIONS = {
    "numeric": (
        "features.income < 20000 and prediction.score > 0.9",
        "features['income'] < 20000 and prediction['score'] > 0.9",
        "features.income < 20000.0 && prediction.score > 0.9",
    ),
    "string": (
        "model = 'credit-risk' AND version <> '3'",
        "model == 'credit-risk' and version != '3'",
        "model == 'credit-risk' && version != '3'",
    ),
    "mixed": (
        "features.region IN ('eu', 'us') AND features.age >= 65"
        " AND prediction.score BETWEEN 0.45 AND 0.55",
        "features['region'] in ('eu', 'us') and features['age'] >= 65"
        " and 0.45 <= prediction['score'] <= 0.55",
        "features.region in ['eu', 'us'] && features.age >= 65.0"
        " && prediction.score >= 0.45 && prediction.score <= 0.55",
    ),
}


def make_events(count: int, seed: int = 1) -> list[Event]:
    rng = random.Random(seed)
    events = []
    for i in range(count):
        features: dict[str, Any] = {
            "income": rng.uniform(-100, 100_000),
            "age": float(rng.randint(16, 95)),
            "debt_ratio": rng.random(),
            "tenure": float(rng.randint(0, 40)),
            "region": rng.choice(["eu", "us", "apac", "mars"]),
            "channel": rng.choice(["web", "app", "branch"]),
        }
        prediction: dict[str, Any] = {"score": rng.random(), "label": float(rng.random() < 0.3)}
        version = rng.choice(["3", "4"])
        events.append(
            Event("credit-risk", f"e{i}", 1.7e9 + i, version, features, prediction, None, "t", 0, i)
        )
    return events


def best_of(repeats: int, run: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_guardrails(events: list[Event]) -> None:
    config = parse_config(CONFIG).models["credit-risk"]
    guardrails = Guardrails("credit-risk", config)
    columns = best_of(5, lambda: guardrails.batch(events))
    batch = guardrails.batch(events)
    evaluate = best_of(5, lambda: guardrails.evaluate(batch))
    total = columns + evaluate
    print(
        f"guardrails, 10 rules, {len(events)} events: columns {columns * 1e3:.1f} ms + "
        f"evaluate {evaluate * 1e3:.1f} ms = {len(events) / total:,.0f} events/s"
    )


def bench_expressions(events: list[Event]) -> None:
    import celpy
    import numexpr
    import polars as pl
    import simpleeval

    from monitor.guardrails.expressions import decision_frame

    config = parse_config(CONFIG).models["credit-risk"]
    guardrails = Guardrails("credit-risk", config)
    batch = guardrails.batch(events)
    count = len(events)
    frame_seconds = best_of(
        5, lambda: decision_frame(batch, frozenset({"income", "region", "age"}))
    )
    frame = decision_frame(batch, frozenset({"income", "region", "age"}))
    print(f"polars frame of the batch: {frame_seconds * 1e3:.2f} ms")
    names = [
        {"model": e.model, "version": e.version, "features": e.features, "prediction": e.prediction}
        for e in events
    ]
    environment = celpy.Environment()
    activations = [celpy.json_to_cel(n) for n in names]
    for label, (sql, python, cel) in EXPRESSIONS.items():
        expr = pl.sql_expr(sql)
        polars_s = best_of(5, partial(frame.select, expr)) + frame_seconds
        evaluator = simpleeval.EvalWithCompoundTypes()
        parsed = evaluator.parse(python)

        def run_simpleeval(evaluator: Any = evaluator, parsed: Any = parsed) -> None:
            for values in names:
                evaluator.names = values
                evaluator.eval("", previously_parsed=parsed)

        simple_s = best_of(3, run_simpleeval)
        program = environment.program(environment.compile(cel))
        cel_s = best_of(1, partial(_evaluate_all, program, activations))
        print(
            f"{label:8} polars {count / polars_s:>12,.0f}/s  simpleeval {count / simple_s:>9,.0f}/s"
            f"  cel-python {count / cel_s:>7,.0f}/s"
        )
    income, score = batch.numeric["income"], batch.score
    numexpr_s = best_of(
        5,
        lambda: numexpr.evaluate(
            "(income < 20000) & (score > 0.9)", {"income": income, "score": score}
        ),
    )
    print(f"numeric  numexpr {count / numexpr_s:,.0f}/s (numbers only: no strings, no NULL)")


def _evaluate_all(program: Any, activations: list[Any]) -> None:
    for activation in activations:
        program.evaluate(activation)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--events", type=int, default=EVENTS)
    args = parser.parse_args()
    events = make_events(args.events)
    bench_guardrails(events)
    if args.compare:
        bench_expressions(events)


if __name__ == "__main__":
    main()
