"""The demo data folder: its layout, and that the default classifier recognises each object."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from threedb.config.experiment import INFERENCE_DEFAULTS
from threedb.inference.model import InferenceModel
from threedb.rendering.demo_data import DEMO_MODELS
from threedb.rendering.render_blender import BlenderRenderer

VIEWS = [(0.0, -1.0, 0.35), (1.0, -1.0, 0.6), (-1.0, -0.3, 0.2), (0.3, -1.0, 1.0)]


def test_demo_folder_layout(demo_data):
    for folder in ("blender_models", "blender_environments", "ood_objects", "blender_control_material"):
        assert os.listdir(os.path.join(demo_data, folder)), folder
    classmap = json.load(open(os.path.join(demo_data, "class_map.json")))
    assert set(classmap) == set(DEMO_MODELS)
    models = sorted(os.listdir(os.path.join(demo_data, "blender_models")))
    assert models == sorted(f"{uid}.blend" for uid in DEMO_MODELS)


@pytest.fixture(scope="module")
def classifier():
    return InferenceModel(dict(INFERENCE_DEFAULTS))


@pytest.mark.parametrize("uid", sorted(DEMO_MODELS))
def test_classifier_recognises_demo_object(demo_data, classifier, uid):
    renderer = BlenderRenderer(demo_data, {"resolution": [160, 160], "samples": 32, "threads": 2,
                                           "max_depth": 10.0, "persistent_data": True})
    targets = DEMO_MODELS[uid][1]
    top1 = []
    for environment in ("studio.exr", "courtyard.exr"):
        renderer.setup_render(f"{uid}.blend", environment)
        for view in VIEWS:
            renderer.frame_camera(view, 1.1)
            rgb = renderer.render(uid)["rgba"][:3]
            assert np.isfinite(rgb).all()
            logits = classifier(torch.from_numpy(rgb)[None])[0]
            top1.append(int(logits.argmax()))
    assert any(label in targets for label in top1), f"{uid}: top-1 classes {top1}, expected one of {targets}"
