"""Helpers around the ``bpy`` module (Blender 5.0 as a Python package).

``bpy`` is imported on first use so that processes that only enumerate files or
validate configs do not pay for it.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from typing import Any, Iterator, List, Tuple

import numpy as np

MODEL_EXTENSIONS = (".blend", ".obj", ".glb", ".gltf", ".ply", ".stl")
ENVIRONMENT_EXTENSIONS = (".blend", ".hdr", ".exr")
CAMERA_NAME = "Camera"
OBJECT_PASS_INDEX = 1


def import_bpy() -> Any:
    import bpy  # noqa: PLC0415 - deliberately lazy: about 0.5 s and 200 MB

    return bpy


def import_oiio() -> Any:
    """Import the OpenImageIO module that ships inside the bpy wheel (not on sys.path by default)."""
    bpy = import_bpy()
    try:
        import OpenImageIO  # noqa: PLC0415
        return OpenImageIO
    except ImportError:
        pass
    package_dir = os.path.dirname(bpy.__file__)
    if os.path.basename(package_dir) == "bpy" and os.path.isdir(os.path.join(package_dir, "..", "..", "..")):
        # bpy.__file__ can point at <version>/scripts/modules/bpy/__init__.py.
        package_dir = os.path.normpath(os.path.join(package_dir, "..", "..", "..", ".."))
    version = ".".join(str(v) for v in bpy.app.version[:2])
    python_dir = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        os.path.join(package_dir, version, "python", "lib", python_dir, "site-packages"),
        os.path.join(package_dir, "bpy", version, "python", "lib", python_dir, "site-packages"),
    ]
    for candidate in candidates:
        if os.path.isdir(os.path.join(candidate, "OpenImageIO")):
            sys.path.append(candidate)
            import OpenImageIO  # noqa: PLC0415
            return OpenImageIO
    raise ImportError(f"OpenImageIO not found in the bpy wheel (looked in {candidates})")


def bpy_datafiles_dir() -> str:
    """Return Blender's ``datafiles`` folder inside the installed bpy wheel."""
    bpy = import_bpy()
    version = ".".join(str(v) for v in bpy.app.version[:2])
    module_dir = os.path.dirname(bpy.__file__)
    for root in (module_dir, os.path.normpath(os.path.join(module_dir, "..", "..", ".."))):
        candidate = os.path.join(root, version, "datafiles")
        if os.path.isdir(candidate):
            return candidate
        candidate = os.path.join(root, "datafiles")
        if os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError("Blender datafiles folder not found in the bpy wheel")


@contextlib.contextmanager
def quiet_stdout(enabled: bool = True) -> Iterator[None]:
    """Silence Blender's C-level console output (render progress lines) while active."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Apply the sRGB transfer function (Blender's "Standard" view) and clip to [0, 1]."""
    linear = np.clip(linear, 0.0, None)
    low = linear * 12.92
    high = 1.055 * np.power(linear, 1.0 / 2.4, dtype=np.float32) - 0.055
    return np.clip(np.where(linear <= 0.0031308, low, high), 0.0, 1.0).astype(np.float32)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """Invert :func:`srgb_encode` for values in [0, 1]."""
    encoded = np.asarray(encoded, dtype=np.float32)
    return np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4).astype(np.float32)


def world_bounding_box(objects: List[Any]) -> Tuple[np.ndarray, np.ndarray]:
    """Return ``(min corner, max corner)`` of the objects' world-space bounding boxes."""
    import mathutils  # noqa: PLC0415

    corners = []
    for obj in objects:
        for corner in obj.bound_box:
            corners.append(tuple(obj.matrix_world @ mathutils.Vector(corner)))
    points = np.array(corners, dtype=np.float64)
    return points.min(axis=0), points.max(axis=0)


def mesh_world_vertices(obj: Any) -> np.ndarray:
    """Return the evaluated mesh's vertices in world space, shape (N, 3)."""
    bpy = import_bpy()
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        count = len(mesh.vertices)
        coords = np.empty(count * 3, dtype=np.float64)
        mesh.vertices.foreach_get("co", coords)
        coords = coords.reshape(count, 3)
        matrix = np.array(obj.matrix_world, dtype=np.float64)
        return coords @ matrix[:3, :3].T + matrix[:3, 3]
    finally:
        evaluated.to_mesh_clear()


def look_at(camera: Any, target: Tuple[float, float, float]) -> None:
    """Point ``camera`` (its -Z axis) at ``target`` with +Z as up."""
    import mathutils  # noqa: PLC0415

    direction = mathutils.Vector(target) - camera.location
    camera.rotation_mode = "XYZ"
    camera.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()


def frame_distance(radius: float, camera_data: Any, resolution: Tuple[int, int], zoom_factor: float) -> float:
    """Return the camera distance at which a sphere of ``radius`` just fits the frame at zoom 1.

    A larger ``zoom_factor`` brings the camera closer (distance divided by the factor).
    """
    sensor = camera_data.sensor_width
    lens = camera_data.lens
    width, height = resolution
    horizontal = 2 * math.atan(sensor / (2 * lens))
    vertical = 2 * math.atan(math.tan(horizontal / 2) * height / width)
    if height > width:
        vertical = 2 * math.atan(sensor / (2 * lens))
        horizontal = 2 * math.atan(math.tan(vertical / 2) * width / height)
    half_angle = min(horizontal, vertical) / 2
    return radius / math.sin(half_angle) / max(zoom_factor, 1e-6)
