"""docs/guardrails.md: its example config loads and its example expressions compile."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.config_loader import parse_config
from monitor.guardrails import Guardrails
from tests.guardrails.support import guardrails

DOC = (Path(__file__).resolve().parents[2] / "docs" / "guardrails.md").read_text(encoding="utf-8")


def block_after(marker: str, language: str) -> str:
    start = DOC.index(marker)
    found = re.search(rf"```{language}\n(.*?)```", DOC[start:], re.DOTALL)
    assert found is not None
    return found.group(1)


def test_the_example_config_loads_and_runs() -> None:
    config = parse_config(block_after("<!-- guardrails-example -->", "yaml"))
    model = config.models["credit-risk"]
    kinds = {rule.kind for rule in model.guardrails}
    assert kinds == {"range", "required", "categories", "score_band", "expression", "aggregate"}
    rails = Guardrails("credit-risk", model)
    assert rails.evaluate(rails.batch([])).rule_counts.keys() == {r.name for r in model.guardrails}


EXPRESSIONS = block_after("## The expression language", "text").strip().splitlines()


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_the_example_expressions_compile(expression: str) -> None:
    guardrails([{"name": "x", "kind": "expression", "expression": expression, "action": "alert"}])
