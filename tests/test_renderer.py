"""The Blender renderer and the scene controls, on real renders at 48 px."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import torch

from threedb.controls.blender.background import BackgroundControl
from threedb.controls.blender.camera import CameraControl
from threedb.controls.blender.denoiser import DenoiseControl
from threedb.controls.blender.orientation import OrientationControl
from threedb.controls.blender.position import PositionControl
from threedb.controls.blender.scale import ScaleControl
from threedb.rendering.render_blender import BlenderRenderer

SETTINGS = {"resolution": [48, 48], "samples": 4, "threads": 2, "with_segmentation": True,
            "with_depth": True, "with_uv": False, "max_depth": 10.0, "persistent_data": True}


@pytest.fixture(scope="module")
def renderer(demo_data):
    renderer = BlenderRenderer(demo_data, SETTINGS, seed=3)
    renderer.setup_render("mug.blend", "studio.exr")
    return renderer


def render_with(renderer, control, args, seed=1):
    context = renderer.get_context_dict("mug", 1)
    control.apply(context, args)
    try:
        return renderer.render("mug", job_seed=seed)
    finally:
        control.unapply(context)


def centroid(mask):
    rows, cols = np.nonzero(mask)
    return rows.mean(), cols.mean()


def test_render_outputs_shapes_and_ranges(renderer):
    out = renderer.render("mug", job_seed=1)
    assert out["rgba"].shape == (4, 48, 48)
    assert out["rgba"].dtype == np.float32
    assert out["rgba"].min() >= 0.0
    assert out["rgba"].max() <= 1.0
    assert set(np.unique(out["segmentation"])) == {0, 1}
    background = out["segmentation"] == 0
    assert np.all(out["depth"][background] == 10.0)
    assert np.all(out["depth"][~background] < 10.0)
    assert out["rgba"][3][background].mean() < 0.05
    # The HDRI shows behind the object: the background is not black.
    assert out["rgba"][:3, background].mean() > 0.05


def test_render_is_deterministic_for_a_seed(renderer):
    first = renderer.render("mug", job_seed=5)["rgba"]
    second = renderer.render("mug", job_seed=5)["rgba"]
    assert np.array_equal(first, second)


def test_camera_zoom_enlarges_object(renderer):
    control = CameraControl(renderer.root_dir)
    base = {"view_point_x": 0.0, "view_point_y": -1.0, "view_point_z": 0.3, "aperture": 32.0, "focal_length": 50.0}
    areas = [render_with(renderer, control, {**base, "zoom_factor": z})["segmentation"].sum() for z in (0.6, 1.0, 1.6)]
    assert areas[0] < areas[1] < areas[2]
    # At zoom 1 the whole object stays inside the frame.
    mask = render_with(renderer, control, {**base, "zoom_factor": 1.0})["segmentation"]
    assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def test_orientation_changes_silhouette(renderer):
    control = OrientationControl(renderer.root_dir)
    upright = render_with(renderer, control, {"rotation_x": 0.0, "rotation_y": 0.0, "rotation_z": 0.0})
    turned = render_with(renderer, control, {"rotation_x": 1.57, "rotation_y": 0.0, "rotation_z": 0.0})
    assert (upright["segmentation"] != turned["segmentation"]).mean() > 0.05


def test_position_moves_object_right(renderer):
    control = PositionControl(renderer.root_dir)
    still = render_with(renderer, control, {"offset_x": 0.0, "offset_y": 0.0, "offset_z": 0.0})
    moved = render_with(renderer, control, {"offset_x": 0.3, "offset_y": 0.0, "offset_z": 0.0})
    assert centroid(moved["segmentation"])[1] > centroid(still["segmentation"])[1] + 3


def test_scale_shrinks_object(renderer):
    control = ScaleControl(renderer.root_dir)
    full = render_with(renderer, control, {"factor": 1.0})["segmentation"].sum()
    half = render_with(renderer, control, {"factor": 0.5})["segmentation"].sum()
    assert half < 0.4 * full


def test_denoiser_smooths_noise(renderer):
    plain = renderer.render("mug", job_seed=2)["rgba"]
    denoised = render_with(renderer, DenoiseControl(renderer.root_dir), {}, seed=2)["rgba"]
    # Neighbouring pixels differ less after denoising.
    assert np.abs(np.diff(denoised[:3], axis=2)).mean() < np.abs(np.diff(plain[:3], axis=2)).mean()


def test_controls_undo_themselves(renderer):
    before = renderer.render("mug", job_seed=9)["rgba"]
    for control, args in ((OrientationControl(renderer.root_dir), {"rotation_x": 1.0, "rotation_y": 0.5, "rotation_z": 2.0}),
                          (ScaleControl(renderer.root_dir), {"factor": 0.3}),
                          (PositionControl(renderer.root_dir), {"offset_x": 0.2, "offset_y": 0.1, "offset_z": 0.0})):
        render_with(renderer, control, args)
    assert np.array_equal(renderer.render("mug", job_seed=9)["rgba"], before)


def test_background_fills_exact_hsv_colour(renderer):
    out = renderer.render("mug", job_seed=1)
    colour = colorsys.hsv_to_rgb(0.6, 0.8, 0.9)
    result = BackgroundControl(renderer.root_dir).apply(torch.from_numpy(out["rgba"]), {"H": 0.6, "S": 0.8, "V": 0.9})
    background = out["rgba"][3] == 0
    assert background.sum() > 100
    for channel in range(3):
        assert np.allclose(result[channel].numpy()[background], colour[channel], atol=1e-6)


def test_scene_switches_do_not_grow_data_blocks(demo_data):
    renderer = BlenderRenderer(demo_data, SETTINGS)
    bpy = renderer.bpy
    counts = []
    for _ in range(3):
        for model, env in (("mug.blend", "forest.exr"), ("teddy.blend", "studio.exr")):
            renderer.setup_render(model, env)
            renderer.render(model[:-6])
        counts.append((len(bpy.data.objects), len(bpy.data.materials), len(bpy.data.images),
                       len(bpy.data.meshes), len(bpy.data.worlds)))
    assert counts[0] == counts[1] == counts[2]


def test_model_swap_keeps_world_and_matches_full_reload(demo_data):
    renderer = BlenderRenderer(demo_data, SETTINGS, seed=3)
    bpy = renderer.bpy
    renderer.setup_render("mug.blend", "studio.exr")
    renderer.render("mug", job_seed=1)
    renderer.scene.world["swap_test_mark"] = 1  # survives a swap, not a reset
    counts = (len(bpy.data.objects), len(bpy.data.materials), len(bpy.data.images), len(bpy.data.meshes))

    renderer.setup_render("teddy.blend", "studio.exr")
    assert renderer.scene.world.get("swap_test_mark") == 1  # swapped in place: no reset
    assert "mug" not in {o.name.split(".")[0] for o in renderer.scene.objects}
    swapped = renderer.render("teddy", job_seed=1)
    # Swapping back and forth leaves nothing behind.
    renderer.setup_render("mug.blend", "studio.exr")
    renderer.setup_render("teddy.blend", "studio.exr")
    renderer.setup_render("mug.blend", "studio.exr")
    assert (len(bpy.data.objects), len(bpy.data.materials), len(bpy.data.images), len(bpy.data.meshes)) == counts

    renderer.loaded = None  # force the full reset that a new environment gets
    renderer.setup_render("teddy.blend", "studio.exr")
    assert renderer.scene.world.get("swap_test_mark") is None
    reloaded = renderer.render("teddy", job_seed=1)
    for name in ("rgba", "segmentation", "depth"):
        assert np.array_equal(swapped[name], reloaded[name]), name
    assert (swapped["segmentation"] > 0).mean() > 0.05


# The tests below load their own scenes, which replaces the shared renderer's scene (one bpy
# scene per process), so they stay at the end of this file.

def test_job_seed_used_without_persistent_data(demo_data):
    fresh = BlenderRenderer(demo_data, {**SETTINGS, "persistent_data": False}, seed=3)
    fresh.setup_render("mug.blend", "studio.exr")
    seeded = fresh.render("mug", job_seed=5)["rgba"]
    assert np.array_equal(seeded, fresh.render("mug", job_seed=5)["rgba"])
    assert not np.array_equal(seeded, fresh.render("mug", job_seed=6)["rgba"])
