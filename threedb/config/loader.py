"""Read an experiment YAML file and merge it with its ``base_config`` chain."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List

import yaml

from threedb.errors import ConfigError, ConfigProblem


@dataclass
class LoadedConfig:
    """A config after ``base_config`` merging.

    ``data`` is the merged mapping, ``path`` the file the user named, and ``files`` every
    file of the chain, the user's first.
    """

    data: Dict[str, Any]
    path: str
    files: List[str] = field(default_factory=list)

    @property
    def directory(self) -> str:
        return os.path.dirname(os.path.abspath(self.path))


def merge_configs(base: Dict[str, Any], override: Dict[str, Any]) -> Dict[str, Any]:
    """Merge ``override`` into a copy of ``base``: mappings merge key by key, other values replace."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_configs(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read_yaml(path: str, referenced_from: str | None) -> Dict[str, Any]:
    where = referenced_from or path
    if not os.path.isfile(path):
        key = "base_config" if referenced_from else ""
        raise ConfigError([ConfigProblem(where, key, "config file not found", value=path)])

    try:
        with open(path, encoding="utf-8") as handle:
            content = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        position = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError([
            ConfigProblem(path, "", f"YAML syntax error at {position}{problem}", has_value=False)
        ]) from None

    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError([
            ConfigProblem(path, "", "the file must contain a mapping of sections",
                          value=type(content).__name__,
                          valid="inference, evaluation, render_args, controls, policy, logging")
        ])
    return content


def load_config(path: str) -> LoadedConfig:
    """Load ``path`` and its ``base_config`` chain; a child's keys override its base's.

    ``base_config`` is a path relative to the file that names it. A cycle in the chain
    raises :class:`ConfigError`.
    """
    chain: List[str] = []
    layers: List[Dict[str, Any]] = []
    current = os.path.abspath(path)
    referenced_from: str | None = None

    while True:
        if current in chain:
            cycle = " -> ".join(chain + [current])
            raise ConfigError([
                ConfigProblem(referenced_from or current, "base_config",
                              "base_config chain has a cycle", value=cycle)
            ])
        chain.append(current)
        content = _read_yaml(current, referenced_from)
        layers.append(content)

        base = content.get("base_config")
        if base is None:
            break
        if not isinstance(base, str) or not base:
            raise ConfigError([
                ConfigProblem(current, "base_config", "must be a path to a YAML file", value=base)
            ])
        referenced_from = current
        current = os.path.normpath(os.path.join(os.path.dirname(current), base))

    merged: Dict[str, Any] = {}
    for layer in reversed(layers):
        merged = merge_configs(merged, layer)
    merged.pop("base_config", None)
    return LoadedConfig(data=merged, path=os.path.abspath(path), files=chain)
