"""Normalize one details.log object into flat, typed fields.

threedb writes real JSON types. 3DB (Leclerc et al., 2021) logs numpy arrays
with str(), as "[504 968]", and its details.log files may contain booleans and
floats as strings ("True", "0.53"). The parsers here accept both forms.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Mapping, Sequence

logger = logging.getLogger(__name__)

# Top-level keys of a details.log object that are not control parameters.
RESERVED_KEYS = frozenset(
    {
        "id",
        "environment",
        "model",
        "render_args",
        "measured",
        "status",
        "error",
        "is_correct",
        "loss",
        "prediction",
        "confidence",
        "target",
        "output_type",
    }
)

_NUMBER_PATTERN = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)", re.IGNORECASE)
_TRUE_STRINGS = frozenset({"true", "1", "yes"})
_FALSE_STRINGS = frozenset({"false", "0", "no"})


@functools.lru_cache(maxsize=4096)
def model_uid(model: str) -> str:
    """Return the model uid, the file stem of the model file name (``mug.blend`` -> ``mug``)."""
    name = PureWindowsPath(model).name if "\\" in model else PurePosixPath(model).name
    stem, _, _ = name.partition(".")
    return stem or name


def parse_bool(value: Any) -> bool | None:
    """Parse a boolean written as a JSON bool, a number or a string such as "True" or "[ True]".

    Returns None when the value is missing or not a boolean.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        if value in (0, 1):
            return bool(value)
        return None
    if isinstance(value, str):
        text = value.strip().strip("[]").strip().lower()
        if text in _TRUE_STRINGS:
            return True
        if text in _FALSE_STRINGS:
            return False
    if isinstance(value, list) and len(value) == 1:
        return parse_bool(value[0])
    return None


def parse_float(value: Any) -> float:
    """Parse a float written as a JSON number, a string ("2.31") or a one-element array ("[2.31]").

    Returns NaN when the value is missing or not a number.
    """
    if isinstance(value, bool) or value is None:
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list) and len(value) == 1:
        return parse_float(value[0])
    if isinstance(value, str):
        numbers = _NUMBER_PATTERN.findall(value)
        if len(numbers) == 1:
            return float(numbers[0])
    return math.nan


def parse_number_list(value: Any) -> list[float] | None:
    """Parse a list of numbers from a JSON list, a number, or a numpy array string ("[504 968]").

    Returns None when the value is missing or contains something that is not a number.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, list) and all(type(item) in (int, float) for item in value):
        return [float(item) for item in value]
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        numbers = _NUMBER_PATTERN.findall(text)
        leftover = _NUMBER_PATTERN.sub(" ", text)
        if re.sub(r"[\s,\[\]()]", "", leftover):
            return None
        return [float(number) for number in numbers]
    if isinstance(value, (list, tuple)):
        flat: list[float] = []
        for item in value:
            parsed = parse_number_list(item)
            if parsed is None:
                return None
            flat.extend(parsed)
        return flat
    return None


def parse_class_indices(value: Any) -> list[int] | None:
    """Parse class indices (ints) from any form that parse_number_list accepts.

    Returns None when a value is missing, not a number, or not a whole number.
    """
    if isinstance(value, list) and all(type(item) is int for item in value):
        return list(value)
    numbers = parse_number_list(value)
    if numbers is None:
        return None
    indices: list[int] = []
    for number in numbers:
        if not math.isfinite(number) or number != int(number):
            return None
        indices.append(int(number))
    return indices


def flatten_render_args(render_args: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested render arguments into ``Control.param`` keys.

    ``{"OrientationControl": {"rotation_z": 1.0}}`` and
    ``{"OrientationControl.rotation_z": 1.0}`` both give ``{"OrientationControl.rotation_z": 1.0}``.
    """
    flat: dict[str, Any] = {}
    for key, value in render_args.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten_render_args(value, name))
        else:
            flat[name] = value
    return flat


def _parameter_value(value: Any) -> Any:
    """Return a value that pandas can group on: lists and dicts become their string form."""
    if isinstance(value, (list, tuple, dict)):
        return str(value)
    return value


def normalize_record(raw: Mapping[str, Any], targets_by_uid: Mapping[str, list[int]]) -> dict[str, Any]:
    """Turn one details.log object into a flat dict of typed fields.

    The result has the keys ``id``, ``model``, ``model_uid``, ``environment``,
    ``status``, ``error`` and ``output_type``. It also has ``is_correct`` (bool or
    None), ``loss`` (float, NaN when missing), ``prediction`` and ``target``
    (lists of class indices), ``confidence`` (list of floats or None) and
    ``parameters`` (a dict from column name to raw value). The target comes from
    the line when it has one, else from ``targets_by_uid`` by model uid. A job
    whose status is not "ok" gets ``is_correct`` None and ``loss`` NaN, because
    nothing was scored.
    """
    model = str(raw.get("model", ""))
    uid = model_uid(model)
    status = str(raw.get("status", "ok"))
    scored = status == "ok"

    parameters: dict[str, Any] = {}
    render_args = raw.get("render_args")
    if isinstance(render_args, dict):
        parameters.update(flatten_render_args(render_args))
    measured = raw.get("measured")
    if isinstance(measured, dict):
        parameters.update(flatten_render_args(measured))
    for key, value in raw.items():
        if key not in RESERVED_KEYS:
            parameters[str(key)] = value
    parameters = {name: _parameter_value(value) for name, value in parameters.items()}

    target = parse_class_indices(raw.get("target"))
    if target is None:
        target = list(targets_by_uid.get(uid, []))

    error = raw.get("error")
    return {
        "id": str(raw["id"]),
        "model": model,
        "model_uid": uid,
        "environment": str(raw.get("environment", "")),
        "status": status,
        "error": None if error is None else str(error),
        "is_correct": parse_bool(raw.get("is_correct")) if scored else None,
        "loss": parse_float(raw.get("loss")) if scored else math.nan,
        "prediction": parse_class_indices(raw.get("prediction")) or [],
        "confidence": parse_number_list(raw.get("confidence")),
        "target": target,
        "output_type": None if raw.get("output_type") is None else str(raw.get("output_type")),
        "parameters": parameters,
    }


def parse_class_names(data: Any) -> list[str | None]:
    """Build an index -> class name list from a class_maps.json document.

    Accepts a JSON list of names, a dict ``{"0": "tench", ...}``, and a dict of
    ``{"0": ["n01440764", "tench"]}`` pairs (the last item is the name). Indices
    that the map skips get None. Raises ValueError for any other shape.
    """
    if isinstance(data, list):
        return [_class_name(item) for item in data]
    if isinstance(data, dict):
        names: dict[int, str | None] = {}
        for key, item in data.items():
            try:
                index = int(key)
            except ValueError:
                raise ValueError(f"class map key {key!r} is not a class index (expected an integer string)") from None
            names[index] = _class_name(item)
        size = max(names, default=-1) + 1
        return [names.get(index) for index in range(size)]
    raise ValueError(f"class map must be a JSON list or object, got {type(data).__name__}")


def _class_name(item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, Sequence) and item and isinstance(item[-1], str):
        return item[-1]
    return None if item is None else str(item)


def parse_targets(data: Any) -> dict[str, list[int]]:
    """Build a model uid -> list of acceptable class indices map from uid_to_targets.json.

    Each value may be one index or a list of indices. Raises ValueError for other shapes.
    """
    if not isinstance(data, dict):
        raise ValueError(f"uid_to_targets must be a JSON object, got {type(data).__name__}")
    targets: dict[str, list[int]] = {}
    for uid, value in data.items():
        indices = parse_class_indices(value)
        if indices is None:
            raise ValueError(f"uid_to_targets[{uid!r}] = {value!r} is not a class index or a list of class indices")
        targets[str(uid)] = indices
    return targets
