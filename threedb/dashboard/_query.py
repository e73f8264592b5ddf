"""Validation of the dashboard API's query strings.

Every invalid value raises QueryError, which the server sends as a 400 response
whose JSON body names the parameter, the value and what is valid.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Sequence
from urllib.parse import parse_qs

from threedb.errors import ThreeDBError

MAX_QUERY_FIELDS = 100
# Maximum valid choices listed in one error message. Longer lists end with "and N more".
MAX_LISTED_CHOICES = 20


def describe_choices(choices: Sequence[str]) -> str:
    """Format valid choices for an error message, at most MAX_LISTED_CHOICES of them."""
    if not choices:
        return "(none available yet)"
    listed = ", ".join(repr(choice) for choice in choices[:MAX_LISTED_CHOICES])
    unlisted = len(choices) - MAX_LISTED_CHOICES
    return f"{listed} and {unlisted} more" if unlisted > 0 else listed


def closest_choice_hint(value: str, choices: Sequence[str]) -> str:
    """Return ' (did you mean X?)' for the closest choice, or '' when none is close."""
    matches = difflib.get_close_matches(value, list(choices), n=1)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


class QueryError(ThreeDBError):
    """Raised for an invalid query parameter. The server sends it to the client as a 400 JSON error."""

    def __init__(self, parameter: str, value: str | None, expected: str, message: str | None = None) -> None:
        self.parameter = parameter
        self.value = value
        self.expected = expected
        if message is None:
            problem = "missing value" if value is None else f"invalid value {value!r}"
            message = f"{problem} for query parameter {parameter!r}: expected {expected}"
        super().__init__(message)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON body of the 400 response."""
        return {"error": str(self), "parameter": self.parameter, "value": self.value, "expected": self.expected}


class Query:
    """Parsed query string of one request, with typed and validated getters.

    ``allowed`` lists the query parameters that the endpoint accepts. Any other
    key raises QueryError, so that a misspelled filter is not silently ignored.
    """

    def __init__(self, query_string: str, allowed: Iterable[str]) -> None:
        try:
            self.values = parse_qs(query_string, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
        except ValueError:
            expected = f"at most {MAX_QUERY_FIELDS} fields"
            raise QueryError("(query string)", query_string[:200], expected,
                             message=f"too many fields in the query string: expected {expected}") from None
        allowed = sorted(set(allowed))
        for key, values in self.values.items():
            if key not in allowed:
                expected = f"one of the query parameters {describe_choices(allowed)}{closest_choice_hint(key, allowed)}"
                raise QueryError(key, values[0], expected,
                                 message=f"unknown query parameter {key!r} (value {values[0]!r}): expected {expected}")

    def single(self, name: str) -> str | None:
        """Return the one value of ``name``, or None when it is absent or empty."""
        values = self.values.get(name, [])
        if len(values) > 1:
            joined = ", ".join(values)
            raise QueryError(name, joined, "a single value",
                             message=f"repeated values {joined!r} for query parameter {name!r}: expected a single value")
        if not values or values[0] == "":
            return None
        return values[0]

    def many(self, name: str) -> list[str]:
        """Return every non-empty value of a repeatable parameter, in order."""
        return [value for value in self.values.get(name, []) if value != ""]

    def required(self, name: str, expected: str) -> str:
        """Return the value of ``name``, or raise QueryError naming ``expected`` when it is missing."""
        value = self.single(name)
        if value is None:
            raise QueryError(name, None, expected)
        return value

    def integer(self, name: str, default: int, minimum: int, maximum: int) -> int:
        """Return ``name`` as an int within [minimum, maximum], or ``default`` when absent."""
        text = self.single(name)
        if text is None:
            return default
        expected = f"an integer from {minimum} to {maximum}"
        try:
            value = int(text, 10)
        except ValueError:
            raise QueryError(name, text, expected) from None
        if not minimum <= value <= maximum:
            raise QueryError(name, text, expected)
        return value

    def choice(self, name: str, choices: Sequence[str], default: str | None = None) -> str | None:
        """Return ``name`` when it is one of ``choices``, or ``default`` when absent."""
        value = self.single(name)
        if value is None:
            return default
        if value not in choices:
            raise QueryError(name, value, f"one of {describe_choices(choices)}{closest_choice_hint(value, choices)}")
        return value
