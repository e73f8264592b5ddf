"""A minimal standalone bpy script: the baseline that bench_overhead.py compares threedb with.

It renders a list of jobs (environment, model, orientation and camera parameters) the way a
user would without threedb. For each (environment, model) pair, it resets Blender to an
empty scene, makes the HDRI the world, appends the model's object from its .blend file and
adds a camera. For each job, it sets the object's rotation and the camera (direction, zoom,
focal length and depth of field, with the same meaning as threedb's controls). It then
renders and reads the pixels back into a numpy array. It imports only bpy, mathutils and
numpy.

It renders with Cycles on the CPU with a fixed thread count, the given samples and
resolution, and no denoising. Persistent data is on: Blender keeps the scene's render data
between renders, which makes repeated renders of one scene fast. The film is opaque, so
the HDRI is the background of the Combined pass. Each frame is written as a one-part
uncompressed float32 RGBA OpenEXR file in /dev/shm and read back with
``bpy.data.images.load`` and ``pixels.foreach_get`` (about 2 ms at 224 px).

Usage: ``python plain_bpy_render.py JOBS.json TIMES.json`` where JOBS.json holds
``{"data_dir", "resolution", "samples", "threads", "jobs": [{"environment", "model",
"params": {"OrientationControl.rotation_x": ..., "CameraControl.zoom_factor": ..., ...}}]}``
and TIMES.json receives, for each image, the wall-clock time (``time.time()``) at which its
pixels were in memory and the process's CPU seconds (``time.process_time()``) at that time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

import bpy
import mathutils


def reset_scene(data_dir: str, environment: str, model: str, settings: dict, exr_path: str):
    """Load an empty scene with the HDRI world, the model and a camera; return (object, camera)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene

    world = bpy.data.worlds.new("world")
    scene.world = world
    if world.node_tree is None:
        world.use_nodes = True
    nodes, links = world.node_tree.nodes, world.node_tree.links
    background = next((n for n in nodes if n.type == "BACKGROUND"), None)
    if background is None:
        background = nodes.new("ShaderNodeBackground")
        output = next((n for n in nodes if n.type == "OUTPUT_WORLD"), None) or nodes.new("ShaderNodeOutputWorld")
        links.new(background.outputs[0], output.inputs[0])
    texture = nodes.new("ShaderNodeTexEnvironment")
    texture.image = bpy.data.images.load(os.path.join(data_dir, "blender_environments", environment))
    links.new(texture.outputs["Color"], background.inputs["Color"])

    with bpy.data.libraries.load(os.path.join(data_dir, "blender_models", model), link=False) as (source, target):
        target.objects = list(source.objects)
    for obj in target.objects:
        scene.collection.objects.link(obj)
    model_object = next(o for o in target.objects if o.parent is None)

    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera

    render = scene.render
    render.engine = "CYCLES"
    render.resolution_x = render.resolution_y = settings["resolution"]
    render.resolution_percentage = 100
    render.use_persistent_data = True
    render.threads_mode = "FIXED"
    render.threads = settings["threads"]
    render.use_compositing = False
    render.use_sequencer = False
    render.filepath = exr_path
    render.image_settings.file_format = "OPEN_EXR"
    render.image_settings.color_mode = "RGBA"
    # The format must be set first: the 32-bit depth only exists for EXR.
    render.image_settings.color_depth = "32"
    render.image_settings.exr_codec = "NONE"
    scene.cycles.samples = settings["samples"]
    scene.cycles.use_denoising = False
    scene.cycles.device = "CPU"
    return model_object, camera


def place_camera(model_object, camera, params: dict, resolution: int) -> None:
    """Point the camera at the object's bounding-box centre from the given direction, at the
    distance where the bounding sphere fills the frame divided by ``zoom_factor``."""
    bpy.context.view_layer.update()
    meshes = [model_object, *model_object.children_recursive]
    corners = [o.matrix_world @ mathutils.Vector(c) for o in meshes if o.type == "MESH" for c in o.bound_box]
    low = mathutils.Vector([min(c[i] for c in corners) for i in range(3)])
    high = mathutils.Vector([max(c[i] for c in corners) for i in range(3)])
    centre = (low + high) / 2
    radius = (high - low).length / 2

    data = camera.data
    data.lens = params["CameraControl.focal_length"]
    data.clip_start = 0.001
    half_angle = math.atan(data.sensor_width / (2 * data.lens))
    distance = radius / math.sin(half_angle) / params["CameraControl.zoom_factor"]
    data.clip_end = max(10000.0, distance * 10)
    direction = mathutils.Vector((params["CameraControl.view_point_x"], params["CameraControl.view_point_y"],
                                  params["CameraControl.view_point_z"])).normalized()
    camera.location = centre + direction * distance
    camera.rotation_euler = (centre - camera.location).to_track_quat("-Z", "Y").to_euler()
    data.dof.use_dof = True
    data.dof.aperture_fstop = params["CameraControl.aperture"]
    data.dof.focus_object = model_object


def read_pixels(path: str, size: int) -> np.ndarray:
    """Read the rendered frame back as float32 (H, W, 4)."""
    image = bpy.data.images.load(path, check_existing=False)
    try:
        pixels = np.empty(size * size * 4, dtype=np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    return pixels.reshape(size, size, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description="Render jobs with a minimal bpy script and record timings.")
    parser.add_argument("jobs", help="JSON file with the settings and the jobs")
    parser.add_argument("times", help="JSON file to write the completion times to")
    args = parser.parse_args()

    with open(args.jobs, encoding="utf-8") as handle:
        settings = json.load(handle)
    exr_path = f"/dev/shm/threedb-bench-plain-{os.getpid()}.exr"
    finished = []
    cpu = []
    loaded = None
    model_object = camera = None
    try:
        for job in settings["jobs"]:
            pair = (job["environment"], job["model"])
            if pair != loaded:
                model_object, camera = reset_scene(settings["data_dir"], *pair, settings, exr_path)
                loaded = pair
            params = job["params"]
            model_object.rotation_mode = "XYZ"
            model_object.rotation_euler = (params["OrientationControl.rotation_x"],
                                           params["OrientationControl.rotation_y"],
                                           params["OrientationControl.rotation_z"])
            place_camera(model_object, camera, params, settings["resolution"])
            bpy.ops.render.render(write_still=True)
            read_pixels(exr_path, settings["resolution"])
            finished.append(time.time())
            cpu.append(time.process_time())
    finally:
        if os.path.exists(exr_path):
            os.unlink(exr_path)
    with open(args.times, "w", encoding="utf-8") as handle:
        json.dump({"finished": finished, "cpu": cpu}, handle)


if __name__ == "__main__":
    sys.exit(main())
