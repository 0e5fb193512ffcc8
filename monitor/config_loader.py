"""Load a YAML config file and report every problem with its key path and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from monitor.config import Config
from monitor.errors import ConfigError


def load_config(path: str | Path) -> Config:
    """Read, parse and validate ``path``; raise :class:`ConfigError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    return parse_config(text, source=str(path), base_dir=path.parent)


def parse_config(text: str, source: str = "<config>", base_dir: Path | None = None) -> Config:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}: invalid YAML{where}: {problem}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    problems = [f"{source}: {p}" for p in _duplicate_keys(root)]
    try:
        config = Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            loc = _readable_loc(error["loc"])
            line = _line_of(root, error["loc"])
            where = f" (line {line})" if line else ""
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(f"{source}: {loc or '<top>'}{where}: {message}")
        raise ConfigError(f"{source}: invalid configuration", problems) from exc
    if problems:
        raise ConfigError(f"{source}: invalid configuration", problems)
    return config


def _readable_loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif parts:
            parts.append(f".{item}")
        else:
            parts.append(str(item))
    return "".join(parts)


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Follow ``loc`` through the composed YAML tree; the deepest node found gives the line."""
    line = None
    for item in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(item):
                    line = key.start_mark.line + 1
                    node = value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(item, int):
            node = node.value[item] if item < len(node.value) else None
        else:
            break
    return line


def _duplicate_keys(node: yaml.Node | None, path: str = "") -> list[str]:
    """PyYAML keeps the last of duplicate keys silently; a duplicate is almost always a mistake."""
    problems: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            child = f"{path}.{name}" if path else name
            if name in seen:
                problems.append(f"{child} (line {key.start_mark.line + 1}): duplicate key")
            seen.add(name)
            problems.extend(_duplicate_keys(value, child))
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            problems.extend(_duplicate_keys(value, f"{path}[{index}]"))
    return problems
