"""Exceptions that threedb raises for problems a user can fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence


class ThreeDBError(Exception):
    """Base class of every error that is the user's to fix (config, data, CLI input)."""


@dataclass
class ConfigProblem:
    """One problem found in a config: where it is, what is wrong, what would be valid."""

    file: str
    key_path: str
    message: str
    value: Any = None
    valid: str | None = None
    has_value: bool = True

    def describe(self) -> str:
        where = f"{self.file}: {self.key_path or '<top level>'}"
        text = f"{where}: {self.message}"
        if self.has_value:
            text += f" (got {self.value!r})"
        if self.valid:
            text += f". Valid: {self.valid}"
        return text


class ConfigError(ThreeDBError):
    """Raised with every problem found in a config, so that one run reports them all."""

    def __init__(self, problems: Sequence[ConfigProblem]):
        self.problems = list(problems)
        count = len(self.problems)
        header = f"invalid config: {count} problem{'s' if count != 1 else ''} found"
        lines = [header] + [f"  - {p.describe()}" for p in self.problems]
        super().__init__("\n".join(lines))


class DataError(ThreeDBError):
    """Raised when the data folder (models, environments, materials) is missing or unusable."""


class OutputDirError(ThreeDBError):
    """Raised when the output directory cannot be used as requested."""


class RunError(ThreeDBError):
    """Raised when a run cannot go on (a logger failed, the buffer is stuck, ...)."""
