"""Pre-processing controls undo themselves: after any sequence of jobs the scene is as loaded,
and rendering job A, then B, then A again gives the same image for A."""

from __future__ import annotations

import numpy as np
import pytest

from threedb.controls.blender.camera import CameraControl
from threedb.controls.blender.denoiser import DenoiseControl
from threedb.controls.blender.material import MaterialControl
from threedb.controls.blender.material_nodes import MaterialNodesControl
from threedb.controls.blender.obj_loc_in_frame import ObjLocInFrameControl
from threedb.controls.blender.occlusion import OcclusionControl
from threedb.controls.blender.orientation import OrientationControl
from threedb.controls.blender.pin_to_ground import PinToGroundControl
from threedb.controls.blender.pointlight import PointLightControl
from threedb.controls.blender.position import PositionControl
from threedb.controls.blender.scale import ScaleControl
from threedb.rendering.render_blender import BlenderRenderer

SETTINGS = {"resolution": [40, 40], "samples": 4, "threads": 2, "with_segmentation": True,
            "with_depth": True, "with_uv": False, "max_depth": 10.0, "persistent_data": True}

JOB_A = {
    "PositionControl": {"offset_x": 0.1, "offset_y": -0.2, "offset_z": 0.05},
    "OrientationControl": {"rotation_x": 0.3, "rotation_y": -0.2, "rotation_z": 1.2},
    "ScaleControl": {"factor": 0.8},
    "PinToGroundControl": {"z_ground": 0.1},
    "CameraControl": {"view_point_x": 0.5, "view_point_y": -1.0, "view_point_z": 0.4, "zoom_factor": 0.9,
                      "aperture": 16.0, "focal_length": 50.0},
    "ObjLocInFrameControl": {"x_shift": 0.2, "y_shift": -0.1},
    "MaterialControl": {"replacement_material": "checker_red.blend"},
    "MaterialNodesControl": {"scale": 4.0},
    "PointLightControl": {"H": 0.1, "S": 0.8, "V": 1.0, "intensity": 3000.0, "distance": 6.0, "dir_x": 0.5,
                          "dir_y": -1.0, "dir_z": 0.5},
    "OcclusionControl": {"occlusion_ratio": 0.3, "zoom": 0.2, "scale": 0.6, "direction": 2, "occluder": 1},
    "DenoiseControl": {},
}
JOB_B = {
    "PositionControl": {"offset_x": -0.3, "offset_y": 0.1, "offset_z": 0.0},
    "OrientationControl": {"rotation_x": -1.0, "rotation_y": 0.5, "rotation_z": -2.0},
    "ScaleControl": {"factor": 0.5},
    "PinToGroundControl": {"z_ground": 0.6},
    "CameraControl": {"view_point_x": -0.7, "view_point_y": -0.3, "view_point_z": 0.9, "zoom_factor": 1.4,
                      "aperture": 2.0, "focal_length": 35.0},
    "ObjLocInFrameControl": {"x_shift": -0.4, "y_shift": 0.3},
    "MaterialControl": {"replacement_material": "wood.blend"},
    "MaterialNodesControl": {"scale": 9.0},
    "PointLightControl": {"H": 0.6, "S": 1.0, "V": 0.7, "intensity": 9000.0, "distance": 12.0, "dir_x": -1.0,
                          "dir_y": 0.2, "dir_z": 0.1},
    "OcclusionControl": {"occlusion_ratio": 0.7, "zoom": 0.35, "scale": 1.0, "direction": 6, "occluder": 9},
    "DenoiseControl": {},
}


@pytest.fixture(scope="module")
def scene(demo_data):
    renderer = BlenderRenderer(demo_data, SETTINGS, seed=5)
    renderer.setup_render("mug.blend", "forest.exr")
    controls = [PositionControl(demo_data), OrientationControl(demo_data), ScaleControl(demo_data),
                PinToGroundControl(demo_data), CameraControl(demo_data), ObjLocInFrameControl(demo_data),
                MaterialControl(demo_data), MaterialNodesControl(demo_data, targets={"scale": {"node": "scale"}}),
                PointLightControl(demo_data), OcclusionControl(demo_data), DenoiseControl(demo_data)]
    return renderer, controls


def run_job(renderer, controls, job):
    """Apply the controls in config order, render, undo in reverse order (as the worker does)."""
    context = renderer.get_context_dict("mug", 1)
    applied = []
    try:
        for control in controls:
            control.apply(context, job[type(control).__name__])
            applied.append(control)
        return renderer.render("mug")
    finally:
        for control in reversed(applied):
            control.unapply(context)


def snapshot(renderer):
    """Everything the controls may touch, as plain values."""
    bpy, scene = renderer.bpy, renderer.scene
    objects = {}
    for obj in scene.objects:
        objects[obj.name] = (obj.type, tuple(obj.location), obj.rotation_mode, tuple(obj.rotation_euler),
                             tuple(obj.rotation_quaternion), tuple(obj.rotation_axis_angle), tuple(obj.scale),
                             obj.pass_index, tuple(s.material.name if s.material else None for s in obj.material_slots))
    sockets = {}
    for material in bpy.data.materials:
        for node in material.node_tree.nodes if material.node_tree else []:
            for index, socket in enumerate(list(node.inputs) + list(node.outputs)):
                value = getattr(socket, "default_value", None)
                if value is not None:
                    sockets[(material.name, node.name, index)] = tuple(value) if hasattr(value, "__len__") else value
    camera = renderer.camera.data
    counts = {name: len(getattr(bpy.data, name)) for name in
              ("objects", "meshes", "materials", "images", "node_groups", "lights", "cameras", "worlds", "libraries")}
    return {
        "objects": objects,
        "sockets": sockets,
        "camera": (camera.lens, camera.dof.use_dof, camera.dof.aperture_fstop, camera.dof.focus_object,
                   camera.clip_start, camera.clip_end),
        "cycles": (scene.cycles.use_denoising, scene.cycles.denoiser, scene.cycles.denoising_prefilter,
                   scene.cycles.samples),
        "counts": counts,
        "world": scene.world.name,
    }


def test_job_a_b_a_gives_same_image(scene):
    renderer, controls = scene
    first = run_job(renderer, controls, JOB_A)
    other = run_job(renderer, controls, JOB_B)
    again = run_job(renderer, controls, JOB_A)
    assert not np.array_equal(first["rgba"], other["rgba"])
    assert np.array_equal(first["rgba"], again["rgba"])
    assert np.array_equal(first["segmentation"], again["segmentation"])
    assert np.array_equal(first["depth"], again["depth"])


def test_scene_as_loaded_after_jobs(scene):
    renderer, controls = scene
    before = snapshot(renderer)
    plain = renderer.render("mug")
    for job in (JOB_A, JOB_B, JOB_A, JOB_B):
        run_job(renderer, controls, job)
        assert snapshot(renderer) == before
    assert np.array_equal(renderer.render("mug")["rgba"], plain["rgba"])


def test_orientation_restores_quaternion_rotation(scene):
    renderer, _ = scene
    obj = renderer.object
    saved = (obj.rotation_mode, tuple(obj.rotation_quaternion))
    obj.rotation_mode = "QUATERNION"
    obj.rotation_quaternion = (0.9, 0.1, 0.3, 0.2)
    try:
        before = tuple(obj.rotation_quaternion)
        control = OrientationControl(renderer.root_dir)
        context = renderer.get_context_dict("mug", 1)
        control.apply(context, {"rotation_x": 1.0, "rotation_y": 0.5, "rotation_z": -0.7})
        control.unapply(context)
        assert obj.rotation_mode == "QUATERNION"
        assert tuple(obj.rotation_quaternion) == before
    finally:
        obj.rotation_mode = saved[0]
        obj.rotation_quaternion = saved[1]


def test_failed_occlusion_leaves_no_occluder(scene, tmp_path):
    renderer, _ = scene
    bpy = renderer.bpy
    before = snapshot(renderer)
    occlusion = OcclusionControl(renderer.root_dir)
    occlusion.occluder_paths = [str(tmp_path / "missing.blend")]
    with pytest.raises(OSError):
        occlusion.apply(renderer.get_context_dict("mug", 1), {**JOB_A["OcclusionControl"], "occluder": 0})
    assert snapshot(renderer) == before
    assert len(bpy.data.libraries) == before["counts"]["libraries"]
