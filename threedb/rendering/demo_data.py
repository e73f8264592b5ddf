"""The demo data folder, built on first use from assets that ship in registry packages.

Models come from ``pybullet_data`` (in the ``pybullet`` wheel); environments are the HDRI
worlds of the ``bpy`` wheel (``datafiles/studiolights/world/*.exr``). Each model is saved as a
one-object ``.blend`` file, scaled so that its bounding-box diagonal is 1 scene unit, with its
origin at its bounding-box centre and that centre at the world origin. Occluders
(``ood_objects/``) are ``pybullet_data``'s random shapes, saved the same way at 3/4 of that
size. Materials (``blender_control_material/``) are built in code
(:mod:`threedb.rendering.demo_materials`), three of them from ``pybullet_data`` images.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import shutil
import xml.etree.ElementTree as ElementTree
from typing import Any, Dict, List, Tuple

import numpy as np

from threedb.errors import DataError

logger = logging.getLogger(__name__)

DEMO_VERSION = 3

# model uid -> (URDF or OBJ path inside pybullet_data, ImageNet classes, RGB colour, rotation in
# degrees about X, Y, Z that makes the model stand upright with +Z up, whether the colour
# replaces the file's own materials). EfficientNet-Lite0 recognises each of them from some
# views (top-1 on 160 px renders in studio.exr or courtyard.exr; tests/test_demo_data.py checks it).
DEMO_MODELS: Dict[str, Tuple[str, List[int], Tuple[float, float, float], Tuple[float, float, float], bool]] = {
    "mug": ("objects/mug.urdf", [504, 968], (0.85, 0.85, 0.82), (0, 0, 0), False),      # coffee mug, cup
    "soccer_ball": ("soccerball.urdf", [805], (0.9, 0.9, 0.9), (0, 0, 0), False),        # soccer ball
    # The table's own texture is a tiny noisy image; plain wood reads as a table.
    "table": ("table/table.urdf", [532, 526], (0.35, 0.18, 0.07), (0, 0, 0), True),      # dining table, desk
    "teddy": ("teddy_large.urdf", [850], (0.45, 0.28, 0.12), (90, 0, 0), False),         # teddy bear
    "bicycle": ("bicycle/bike.urdf", [444, 671], (0.7, 0.1, 0.1), (0, 0, 0), False),     # tandem, mountain bike
}
DEMO_ENVIRONMENTS = ["city.exr", "courtyard.exr", "forest.exr", "interior.exr", "night.exr",
                     "studio.exr", "sunrise.exr", "sunset.exr"]
OCCLUDER_COUNT = 12
# Bounding-box diagonal of the occluders in scene units. At 3/4 of the models' diagonal, the
# occlusion control's default ranges give occluders from a small patch (scale 0.25) to ones that
# can hide the whole model (scale 1, zoom 0.4).
OCCLUDER_DIAGONAL = 0.75


def default_cache_dir() -> str:
    base = os.environ.get("THREEDB_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "threedb")
    return base


def demo_data_dir(cache_dir: str | None = None) -> str:
    return os.path.join(cache_dir or default_cache_dir(), f"demo-data-v{DEMO_VERSION}")


def ensure_demo_data(cache_dir: str | None = None) -> str:
    """Return the demo data folder, building it first if it is missing or incomplete."""
    target = demo_data_dir(cache_dir)
    if os.path.isfile(os.path.join(target, "COMPLETE")):
        return target

    logger.info("building the demo data folder in %s (once)", target)
    staging = target + f".partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    context = multiprocessing.get_context("spawn")
    process = context.Process(target=_build_in_subprocess, args=(staging,))
    process.start()
    process.join()
    if process.exitcode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"building the demo data failed (exit code {process.exitcode}); see the log above")

    with open(os.path.join(staging, "COMPLETE"), "w", encoding="utf-8") as handle:
        handle.write(f"{DEMO_VERSION}\n")
    if os.path.isdir(target):
        shutil.rmtree(target)
    os.replace(staging, target)
    return target


def _build_in_subprocess(staging: str) -> None:
    build_demo_data(staging)


def build_demo_data(target: str) -> None:
    """Write models, environments, occluders and the class map into ``target``."""
    import pybullet_data  # noqa: PLC0415

    from threedb.rendering.blender_support import bpy_datafiles_dir, quiet_stdout  # noqa: PLC0415

    from threedb.rendering.demo_materials import build_materials  # noqa: PLC0415

    assets = pybullet_data.getDataPath()
    for folder in ("blender_models", "blender_environments", "ood_objects", "blender_control_material"):
        os.makedirs(os.path.join(target, folder), exist_ok=True)

    with quiet_stdout():
        for uid, (relative, _, colour, rotation, replace_materials) in DEMO_MODELS.items():
            _save_model(os.path.join(assets, relative), colour,
                        os.path.join(target, "blender_models", f"{uid}.blend"), rotation,
                        replace_materials=replace_materials)
        for index in range(OCCLUDER_COUNT):
            source = os.path.join(assets, "random_urdfs", f"{index:03d}", f"{index:03d}.urdf")
            _save_model(source, (0.5, 0.5, 0.5), os.path.join(target, "ood_objects", f"shape_{index:03d}.blend"),
                        diagonal=OCCLUDER_DIAGONAL)
        build_materials(os.path.join(target, "blender_control_material"), assets)

    worlds = os.path.join(bpy_datafiles_dir(), "studiolights", "world")
    for name in DEMO_ENVIRONMENTS:
        shutil.copyfile(os.path.join(worlds, name), os.path.join(target, "blender_environments", name))
    license_file = os.path.join(worlds, "license.txt")
    if os.path.isfile(license_file):
        shutil.copyfile(license_file, os.path.join(target, "blender_environments", "LICENSE-hdri.txt"))

    class_map = {uid: entry[1] for uid, entry in DEMO_MODELS.items()}
    with open(os.path.join(target, "class_map.json"), "w", encoding="utf-8") as handle:
        json.dump(class_map, handle, indent=2)


def _origin_matrix(element: Any) -> np.ndarray:
    """Return the 4x4 transform of a URDF element's ``<origin xyz rpy>`` (identity if absent)."""
    origin = element.find("origin") if element is not None else None
    xyz = [float(v) for v in (origin.get("xyz", "0 0 0") if origin is not None else "0 0 0").replace(",", " ").split()]
    rpy = [float(v) for v in (origin.get("rpy", "0 0 0") if origin is not None else "0 0 0").replace(",", " ").split()]
    roll, pitch, yaw = rpy
    rx = np.array([[1, 0, 0], [0, math.cos(roll), -math.sin(roll)], [0, math.sin(roll), math.cos(roll)]])
    ry = np.array([[math.cos(pitch), 0, math.sin(pitch)], [0, 1, 0], [-math.sin(pitch), 0, math.cos(pitch)]])
    rz = np.array([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]])
    matrix = np.eye(4)
    matrix[:3, :3] = rz @ ry @ rx  # URDF's fixed-axis roll, pitch, yaw
    matrix[:3, 3] = xyz
    return matrix


def _urdf_visuals(path: str) -> List[Dict[str, Any]]:
    """Return the visual meshes of a URDF, each with its file, scale and world transform.

    Joints are taken at their zero position, so each link sits at the product of the joint
    origins from the root link down.
    """
    root = ElementTree.parse(path).getroot()
    parents = {}
    for joint in root.findall("joint"):
        parents[joint.find("child").get("link")] = (joint.find("parent").get("link"), _origin_matrix(joint))

    def link_matrix(name: str) -> np.ndarray:
        if name not in parents:
            return np.eye(4)
        parent, matrix = parents[name]
        return link_matrix(parent) @ matrix

    visuals = []
    for link in root.findall("link"):
        for visual in link.findall("visual"):
            mesh = visual.find("geometry/mesh")
            if mesh is None:
                continue
            scale = [float(v) for v in mesh.get("scale", "1 1 1").split()]
            visuals.append({"file": os.path.join(os.path.dirname(path), mesh.get("filename")), "scale": scale,
                            "matrix": link_matrix(link.get("name")) @ _origin_matrix(visual)})
    return visuals


def _save_model(source: str, colour: Tuple[float, float, float], destination: str,
                rotation: Tuple[float, float, float] = (0, 0, 0), diagonal: float = 1.0,
                replace_materials: bool = False) -> None:
    import bpy  # noqa: PLC0415
    import mathutils  # noqa: PLC0415

    bpy.ops.wm.read_factory_settings(use_empty=True)
    visuals = _urdf_visuals(source) if source.endswith(".urdf") else \
        [{"file": source, "scale": [1, 1, 1], "matrix": np.eye(4)}]

    parts = []
    for visual in visuals:
        before = set(bpy.data.objects)
        if visual["file"].lower().endswith(".stl"):
            bpy.ops.wm.stl_import(filepath=visual["file"])
        else:
            bpy.ops.wm.obj_import(filepath=visual["file"], forward_axis="Y", up_axis="Z")
        transform = visual["matrix"] @ np.diag(list(visual["scale"]) + [1.0])
        for obj in (o for o in bpy.data.objects if o not in before and o.type == "MESH"):
            obj.matrix_world = mathutils.Matrix(transform.tolist())
            parts.append(obj)

    fallback = bpy.data.materials.new("threedb_default")
    fallback.diffuse_color = (*colour, 1.0)
    principled = fallback.node_tree.nodes.get("Principled BSDF") if fallback.node_tree else None
    if principled is not None:
        principled.inputs["Base Color"].default_value = (*colour, 1.0)
        principled.inputs["Roughness"].default_value = 0.4
    for obj in parts:
        if replace_materials or not obj.data.materials or all(m is None for m in obj.data.materials):
            obj.data.materials.clear()
            obj.data.materials.append(fallback)

    with bpy.context.temp_override(active_object=parts[0], selected_editable_objects=parts, selected_objects=parts):
        bpy.ops.object.transform_apply(location=True, rotation=True, scale=True)
        if len(parts) > 1:
            bpy.ops.object.join()
    obj = parts[0]
    obj.rotation_euler = [math.radians(angle) for angle in rotation]
    with bpy.context.temp_override(active_object=obj, selected_editable_objects=[obj], selected_objects=[obj]):
        bpy.ops.object.transform_apply(location=False, rotation=True, scale=False)
    obj.name = os.path.splitext(os.path.basename(destination))[0]

    # Centre the mesh on its bounding box and scale its diagonal to ``diagonal`` scene units.
    coords = [v.co.copy() for v in obj.data.vertices]
    low = [min(c[i] for c in coords) for i in range(3)]
    high = [max(c[i] for c in coords) for i in range(3)]
    centre = [(low[i] + high[i]) / 2 for i in range(3)]
    factor = diagonal / (math.dist(low, high) or 1.0)
    for vertex in obj.data.vertices:
        vertex.co = [(vertex.co[i] - centre[i]) * factor for i in range(3)]
    obj.location = (0, 0, 0)

    for orphan in [o for o in bpy.data.objects if o is not obj]:
        bpy.data.objects.remove(orphan)
    bpy.ops.file.pack_all()
    bpy.ops.wm.save_as_mainfile(filepath=destination, compress=True)
