"""The output directory of a run: refusal to overwrite, resolved config and run information."""

from __future__ import annotations

import json
import os
import platform
import time
from importlib import metadata
from typing import Any, Dict

import yaml

from threedb import __version__
from threedb.config.experiment import Experiment
from threedb.errors import OutputDirError


def prepare_output_dir(path: str) -> str:
    """Create ``path``; raise :class:`OutputDirError` if it exists and is not empty."""
    path = os.path.abspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputDirError(f"output path exists and is not a directory: {path}")
    if os.path.isdir(path) and os.listdir(path):
        raise OutputDirError(
            f"output directory is not empty: {path}. Choose a new directory with --output, "
            f"continue an interrupted run there with --resume, or remove it.")
    os.makedirs(path, exist_ok=True)
    return path


def package_versions() -> Dict[str, str]:
    """Return the versions of threedb, Python, Blender (the bpy package), torch and numpy."""
    versions = {"threedb": __version__, "python": platform.python_version()}
    # Read from package metadata: importing bpy here would put its script folder on sys.path,
    # which spawned workers inherit and which hides the real bpy module from them.
    for name, key in (("bpy", "blender"), ("torch", "torch"), ("numpy", "numpy")):
        try:
            versions[key] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_run_files(output_dir: str, experiment: Experiment, seed: int, workers: int) -> None:
    """Write ``config.yaml`` (the resolved config) and ``run_info.json`` (seed, versions, sources)."""
    with open(os.path.join(output_dir, "config.yaml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(experiment.resolved_config(), handle, sort_keys=False)
    info: Dict[str, Any] = {
        "seed": seed,
        "workers": workers,
        "config_path": experiment.config_path,
        "data_dir": experiment.data_dir,
        "models": experiment.models,
        "environments": experiment.environments,
        "versions": package_versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
    }
    with open(os.path.join(output_dir, "run_info.json"), "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2)
