"""Parsing of control parameter values, module lookups and path resolution for configs."""

from __future__ import annotations

import ast
import difflib
import importlib
import os
from typing import Any, Iterable, List, Sequence, Tuple

RESOURCES_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "resources")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for a close match, or an empty string."""
    matches = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_range_string(value: str) -> Any:
    """Parse 3DB's string ranges such as ``"(-3.14, 3.14)"``; return the string if it is no range."""
    text = value.strip()
    if not (text.startswith("(") or text.startswith("[")):
        return value
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return value
    return list(parsed) if isinstance(parsed, (tuple, list)) else value


def parse_continuous(value: Any) -> Tuple[str, Any, str]:
    """Classify a continuous parameter value.

    Returns ``(kind, parsed, error)`` where kind is ``"fixed"`` (a number) or ``"range"``
    (``(min, max)``); ``error`` is empty unless the value is invalid.
    """
    if isinstance(value, str):
        value = parse_range_string(value)
    if is_number(value):
        return "fixed", float(value), ""
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            return "range", None, "empty range"
        if len(value) != 2:
            return "range", None, "a continuous range needs exactly 2 numbers [min, max]"
        if not all(is_number(v) for v in value):
            return "range", None, "range bounds must be numbers"
        low, high = float(value[0]), float(value[1])
        if low > high:
            return "range", None, f"inverted range: min {low} is greater than max {high}"
        return "range", (low, high), ""
    return "fixed", None, "expected a number or a [min, max] range"


def parse_discrete(value: Any) -> List[Any]:
    """Return the list of choices for a discrete parameter (a scalar is one fixed choice)."""
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def import_module(path: str) -> Tuple[Any, str]:
    """Import ``path``; return ``(module, error)`` with a one-line error instead of raising."""
    try:
        return importlib.import_module(path), ""
    except ModuleNotFoundError as error:
        if error.name and (path == error.name or path.startswith(error.name + ".")):
            return None, f"module {path!r} not found"
        return None, f"module {path!r} failed to import: {error}"
    except Exception as error:  # noqa: BLE001 - any import-time failure is the user's to see
        return None, f"module {path!r} failed to import: {type(error).__name__}: {error}"


def resolve_path(value: str, search_dirs: Sequence[str]) -> Tuple[str | None, List[str]]:
    """Find a file named by a config: absolute, or relative to each of ``search_dirs`` in order.

    Returns ``(path or None, the candidates tried)``.
    """
    expanded = os.path.expanduser(str(value))
    if os.path.isabs(expanded):
        return (expanded if os.path.exists(expanded) else None), [expanded]

    tried = []
    for directory in list(search_dirs) + [os.getcwd(), RESOURCES_DIR]:
        if not directory:
            continue
        candidate = os.path.normpath(os.path.join(directory, expanded))
        if candidate in tried:
            continue
        tried.append(candidate)
        if os.path.exists(candidate):
            return candidate, tried
    return None, tried
