"""Render channels on real renders: segmentation (0/1 from the renderer), depth along the view
axis in scene units with ``max_depth`` where nothing is hit, and UV coordinates."""

from __future__ import annotations

import os

import numpy as np
import pytest

from threedb.rendering.blender_support import CameraProjection, model_world_vertices, update_scene
from threedb.rendering.render_blender import BlenderRenderer

SIZE = 48
MAX_DEPTH = 10.0
SETTINGS = {"resolution": [SIZE, SIZE], "samples": 16, "threads": 2, "with_segmentation": True,
            "with_depth": True, "with_uv": True, "max_depth": MAX_DEPTH, "persistent_data": True}


@pytest.fixture(scope="module")
def renderer(demo_data):
    return BlenderRenderer(demo_data, SETTINGS, seed=4)


def load(renderer, model, env="studio.exr"):
    if renderer.loaded != (env, f"{model}.blend"):
        renderer.setup_render(f"{model}.blend", env)
    return renderer.render(model)


def add_facing_plane(renderer, depth):
    """Add a 40 x 40 plane facing the camera at ``depth`` along its view axis; return it."""
    import mathutils  # noqa: PLC0415

    bpy = renderer.bpy
    mesh = bpy.data.meshes.new("test_plane")
    mesh.from_pydata([(-20, -20, 0), (20, -20, 0), (20, 20, 0), (-20, 20, 0)], [], [(0, 1, 2, 3)])
    plane = bpy.data.objects.new("test_plane", mesh)
    plane.matrix_world = renderer.camera.matrix_world @ mathutils.Matrix.Translation((0, 0, -depth))
    renderer.scene.collection.objects.link(plane)
    return plane


def remove_plane(renderer, plane):
    mesh = plane.data
    renderer.bpy.data.objects.remove(plane)
    renderer.bpy.data.meshes.remove(mesh)


def test_declared_channels_match_render(renderer):
    output = load(renderer, "mug")
    declared = BlenderRenderer.declare_outputs(SETTINGS)
    assert declared["segmentation"] == ([SIZE, SIZE], "int32")
    assert output["segmentation"].shape == (SIZE, SIZE)
    assert output["segmentation"].dtype == np.int32
    assert output["depth"].shape == (SIZE, SIZE)
    assert output["depth"].dtype == np.float32
    assert output["uv"].shape == (2, SIZE, SIZE)
    assert output["uv"].dtype == np.float32


def test_segmentation_is_binary_with_hdri_as_background(renderer):
    output = load(renderer, "mug")
    segmentation, alpha = output["segmentation"], output["rgba"][3]
    assert set(np.unique(segmentation)) == {0, 1}
    # Fully covered pixels are the object, uncovered ones (the HDRI) are background, and edge
    # pixels get one of the two values, never a blend.
    assert np.all(segmentation[alpha >= 0.999] == 1)
    assert np.all(segmentation[alpha <= 0.001] == 0)
    assert np.all(alpha[segmentation == 1] > 0)
    assert 0 < segmentation.mean() < 0.6


def test_depth_background_is_max_depth(renderer):
    output = load(renderer, "mug")
    background = output["segmentation"] == 0
    assert np.all(output["depth"][background] == MAX_DEPTH)
    assert np.all(output["depth"][~background] < MAX_DEPTH)


def test_depth_matches_model_geometry(renderer):
    output = load(renderer, "mug")
    update_scene()
    vertex_depths = CameraProjection(renderer.scene, renderer.camera).project(
        model_world_vertices(renderer.model_objects()))[:, 2]
    object_depths = output["depth"][output["segmentation"] == 1]
    assert object_depths.min() == pytest.approx(vertex_depths.min(), abs=0.03)
    assert object_depths.max() <= vertex_depths.max() + 1e-3
    assert object_depths.min() >= vertex_depths.min() - 1e-3


def test_depth_is_planar_distance(renderer):
    load(renderer, "mug")
    plane = add_facing_plane(renderer, 3.0)
    try:
        output = renderer.render("mug")
    finally:
        remove_plane(renderer, plane)
    on_plane = output["segmentation"] == 0
    # Distance along the view axis is the same over a plane facing the camera. A distance from
    # the camera's centre would grow towards the corners, by about 5 % here.
    assert np.abs(output["depth"][on_plane] - 3.0).max() < 1e-3
    assert output["depth"][0, 0] == pytest.approx(3.0, abs=1e-3)


def test_depth_beyond_max_depth_is_clipped(renderer):
    load(renderer, "mug")
    plane = add_facing_plane(renderer, MAX_DEPTH + 2)
    try:
        output = renderer.render("mug")
    finally:
        remove_plane(renderer, plane)
    assert output["rgba"][3].min() > 0.99  # the plane fills the background
    assert np.all(output["depth"][output["segmentation"] == 0] == MAX_DEPTH)


def test_uv_on_textured_model(renderer):
    output = load(renderer, "soccer_ball")
    uv, mask, alpha = output["uv"], output["segmentation"] == 1, output["rgba"][3]
    assert np.all(uv[:, alpha == 0] == 0)
    assert np.isfinite(uv).all()
    on_object = uv[:, mask]
    assert on_object.min() >= -1e-3
    assert on_object.max() <= 1 + 1e-3
    assert on_object.std(axis=1).min() > 0.02
    # Edge pixels hold the mean UV of their object samples, not UV scaled down by coverage:
    # they stay close to their fully covered neighbours.
    edge = mask & (alpha < 0.9)
    inner = alpha > 0.999
    rows, cols = np.nonzero(edge)
    gaps = []
    for row, col in zip(rows, cols):
        window = (slice(max(row - 1, 0), row + 2), slice(max(col - 1, 0), col + 2))
        neighbours = uv[:, window[0], window[1]][:, inner[window]]
        if neighbours.size:
            gaps.append(np.abs(neighbours - uv[:, row, col][:, None]).min(axis=1).max())
    assert len(gaps) > 5
    assert np.median(gaps) < 0.05


def test_uv_zero_without_uv_map(renderer):
    # The demo mug has no UV map: Cycles writes 0 there as on the background.
    output = load(renderer, "mug")
    assert not output["uv"].any()


def test_environment_objects_not_segmented(renderer, demo_data, tmp_path):
    bpy = renderer.bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    mesh = bpy.data.meshes.new("wall")
    mesh.from_pydata([(-3, 2, -2), (3, 2, -2), (3, 2, 2), (-3, 2, 2)], [], [(0, 1, 2, 3)])
    wall = bpy.data.objects.new("wall", mesh)
    wall.pass_index = 1  # the model's index: setup_render must reset it
    scene.collection.objects.link(wall)
    data = tmp_path / "data"
    (data / "blender_environments").mkdir(parents=True)
    (data / "blender_models").mkdir()
    bpy.data.libraries.write(str(data / "blender_environments" / "wall.blend"), {scene}, fake_user=True)
    os.symlink(os.path.join(demo_data, "blender_models", "mug.blend"), data / "blender_models" / "mug.blend")

    with_wall = BlenderRenderer(str(data), SETTINGS, seed=4)
    with_wall.setup_render("mug.blend", "wall.blend")
    output = with_wall.render("mug")
    renderer.loaded = None  # the shared renderer's scene was replaced
    behind = (output["rgba"][3] > 0.99) & (output["segmentation"] == 0)
    assert behind.sum() > 0.3 * SIZE * SIZE  # the wall fills the background
    assert 0 < output["segmentation"].mean() < 0.6
