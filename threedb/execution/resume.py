"""Resuming a run: what an interrupted output directory already holds."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

import yaml

from threedb.config.experiment import Experiment
from threedb.errors import OutputDirError


def read_completed(details_path: str) -> Dict[str, Dict[str, Any]]:
    """Return the logged results of ``details.log`` by job id.

    A last line cut short by a crash is removed from the file, so the resumed run appends
    after the last complete line. Both finished and failed jobs count as done.
    """
    if not os.path.isfile(details_path):
        return {}
    with open(details_path, "rb") as handle:
        content = handle.read()

    completed: Dict[str, Dict[str, Any]] = {}
    good_length = 0
    position = 0
    for raw in content.split(b"\n"):
        end = position + len(raw) + 1
        if end > len(content):  # the last piece has no newline: written only in part
            break
        position = end
        if not raw.strip():
            good_length = end
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            break
        completed[str(record.get("id"))] = record
        good_length = end

    if good_length < len(content):
        with open(details_path, "r+b") as handle:
            handle.truncate(good_length)
    return completed


def check_resumable(output_dir: str, experiment: Experiment, seed: int | None) -> int:
    """Check that ``output_dir`` contains a run of the same config; return the seed to use."""
    info_path = os.path.join(output_dir, "run_info.json")
    config_path = os.path.join(output_dir, "config.yaml")
    if not (os.path.isfile(info_path) and os.path.isfile(config_path)):
        raise OutputDirError(f"cannot resume: {output_dir} contains no earlier run (run_info.json and config.yaml missing)")
    with open(info_path, encoding="utf-8") as handle:
        info = json.load(handle)
    with open(config_path, encoding="utf-8") as handle:
        saved = yaml.safe_load(handle)

    current = json.loads(json.dumps(experiment.resolved_config()))
    differences = _differences(saved, current, "")
    if differences:
        listed = "; ".join(differences[:5])
        raise OutputDirError(f"cannot resume: the config differs from the run in {output_dir}: {listed}")
    if seed is not None and seed != info.get("seed"):
        raise OutputDirError(f"cannot resume: --seed {seed} differs from the run's seed {info.get('seed')}")
    if sorted(info.get("models", [])) != sorted(experiment.models) or \
            sorted(info.get("environments", [])) != sorted(experiment.environments):
        raise OutputDirError("cannot resume: the data folder's models or environments changed since the run started")
    return int(info.get("seed", 0))


def _differences(saved: Any, current: Any, path: str) -> List[str]:
    if isinstance(saved, dict) and isinstance(current, dict):
        found = []
        for key in sorted(set(saved) | set(current), key=str):
            found += _differences(saved.get(key), current.get(key), f"{path}.{key}" if path else str(key))
        return found
    if saved != current:
        return [f"{path}: {saved!r} then, {current!r} now"]
    return []


def record_resume(output_dir: str) -> None:
    """Append the time of this resume to ``run_info.json``."""
    import time  # noqa: PLC0415

    info_path = os.path.join(output_dir, "run_info.json")
    with open(info_path, encoding="utf-8") as handle:
        info = json.load(handle)
    info.setdefault("resumed", []).append(time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    with open(info_path, "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2)
