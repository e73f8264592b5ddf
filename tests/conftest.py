"""Shared fixtures: the demo data folder (built once per cache) and tiny experiment configs."""

from __future__ import annotations

import os

import pytest
import yaml

from threedb.rendering.demo_data import ensure_demo_data

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="session")
def demo_data() -> str:
    return ensure_demo_data()


def tiny_config(**overrides):
    """Return a small experiment config: 32 px renders, 2 samples, grid over rotation_z."""
    config = {
        "evaluation": {"module": "threedb.evaluators.classification",
                       "args": {"classmap_path": "class_map.json", "topk": 1}},
        "render_args": {"resolution": 32, "samples": 2},
        "policy": {"module": "threedb.policies.grid_search", "samples_per_dim": 2},
        "logging": {"logger_modules": ["threedb.result_logging.json_logger",
                                       "threedb.result_logging.image_logger"]},
        "controls": [{"module": "threedb.controls.blender.orientation",
                      "rotation_x": 0.0, "rotation_y": 0.0, "rotation_z": [-3.14, 3.14]}],
    }
    config.update(overrides)
    return config


def write_config(directory, config, name="experiment.yaml") -> str:
    path = os.path.join(str(directory), name)
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle)
    return path


def subset_data(tmp_path, demo_data, models, environments) -> str:
    """Make a data folder holding only some demo models and environments (symlinks)."""
    root = tmp_path / "data"
    for folder, names in (("blender_models", models), ("blender_environments", environments)):
        (root / folder).mkdir(parents=True)
        for name in names:
            os.symlink(os.path.join(demo_data, folder, name), root / folder / name)
    os.symlink(os.path.join(demo_data, "class_map.json"), root / "class_map.json")
    os.symlink(os.path.join(demo_data, "ood_objects"), root / "ood_objects")
    return str(root)
