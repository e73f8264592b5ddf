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


# -- transforms --------------------------------------------------------------------------------

TransformState = Tuple[Any, ...]


def save_transform(obj: Any) -> TransformState:
    """Return a snapshot of ``obj``'s location, rotation (every mode's values) and scale."""
    return (tuple(obj.location), obj.rotation_mode, tuple(obj.rotation_euler), tuple(obj.rotation_quaternion),
            tuple(obj.rotation_axis_angle), tuple(obj.scale))


def restore_transform(obj: Any, state: TransformState) -> None:
    """Restore a :func:`save_transform` snapshot exactly.

    The rotation mode is set first because setting ``rotation_mode`` through the Python API
    converts the stored rotation to the new mode (Blender 5.0), which would round the values.
    """
    location, mode, euler, quaternion, axis_angle, scale = state
    obj.rotation_mode = mode
    obj.location = location
    obj.rotation_euler = euler
    obj.rotation_quaternion = quaternion
    obj.rotation_axis_angle = axis_angle
    obj.scale = scale


def translate_world(obj: Any, delta: np.ndarray) -> None:
    """Move ``obj`` by ``delta`` in world space, leaving its rotation and scale as they are.

    ``location`` is in the parent's space, so a parented object's delta is mapped through the
    inverse of the parent's world matrix (without its translation).
    """
    import mathutils  # noqa: PLC0415

    vector = mathutils.Vector(tuple(float(x) for x in delta))
    if obj.parent is not None:
        parent_space = obj.parent.matrix_world @ obj.matrix_parent_inverse
        vector = parent_space.to_3x3().inverted_safe() @ vector
    obj.location = obj.location + vector


# -- data blocks -------------------------------------------------------------------------------

TRACKED_DATA = ("objects", "meshes", "materials", "images", "node_groups", "textures", "lights", "curves",
                "libraries")


class AddedDataBlocks:
    """Snapshot of the data blocks that exist now, so that :meth:`remove` deletes the ones added later.

    Controls that load files use it to leave ``bpy.data`` as they found it. They call
    :meth:`freeze` at the end of ``apply``, so that blocks the render itself creates (the
    "Render Result" image of the first render) are not removed with theirs.
    """

    def __init__(self) -> None:
        bpy = import_bpy()
        self.before = {name: set(getattr(bpy.data, name)) for name in TRACKED_DATA}
        self.frozen: List[Any] | None = None

    def added(self) -> List[Any]:
        """Return the tracked data blocks created since the snapshot (or until :meth:`freeze`)."""
        if self.frozen is not None:
            return list(self.frozen)
        bpy = import_bpy()
        return [block for name in TRACKED_DATA for block in getattr(bpy.data, name)
                if block not in self.before[name]]

    def freeze(self) -> None:
        """Fix the set of added blocks to those that exist now."""
        self.frozen = self.added()

    def remove(self) -> None:
        added = self.added()
        if added:
            import_bpy().data.batch_remove(added)


def append_objects(path: str, scene: Any, types: Tuple[str, ...] = ("MESH", "EMPTY")) -> List[Any]:
    """Append the objects of the ``.blend`` file ``path`` whose type is in ``types``, link them
    into ``scene`` and return them. Objects of other types (cameras, lights) stay unlinked."""
    bpy = import_bpy()
    with quiet_stdout():
        with bpy.data.libraries.load(path, link=False) as (source, target):
            target.objects = list(source.objects)
    objects = [obj for obj in target.objects if obj is not None and obj.type in types]
    for obj in objects:
        scene.collection.objects.link(obj)
    return objects


# -- camera projection -------------------------------------------------------------------------

class CameraProjection:
    """Projection between world points and the frame coordinates of the scene camera.

    Frame coordinates are ``(u, v)`` in [0, 1] across the rendered image, ``u`` from the left
    edge, ``v`` from the bottom edge, plus the depth along the camera's view axis in scene units
    (positive in front of the camera). Pixel row ``r`` of an image of height ``H`` covers
    ``v`` from ``1 - (r + 1) / H`` to ``1 - r / H``. The frame comes from ``Camera.view_frame``,
    so sensor fit, resolution aspect and lens shift are taken into account.
    """

    def __init__(self, scene: Any, camera: Any) -> None:
        frame = [tuple(corner) for corner in camera.data.view_frame(scene=scene)]
        xs, ys = [c[0] for c in frame], [c[1] for c in frame]
        self.x_range = (min(xs), max(xs))
        self.y_range = (min(ys), max(ys))
        self.frame_depth = -frame[0][2]
        self.perspective = camera.data.type != "ORTHO"
        self.to_world = np.array(camera.matrix_world, dtype=np.float64)
        self.to_camera = np.linalg.inv(self.to_world)
        width = scene.render.resolution_x * scene.render.resolution_percentage / 100
        height = scene.render.resolution_y * scene.render.resolution_percentage / 100
        self.aspect = width / height

    def project(self, points: np.ndarray) -> np.ndarray:
        """Return ``(u, v, depth)`` for world points of shape (N, 3); shape (N, 3)."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        local = points @ self.to_camera[:3, :3].T + self.to_camera[:3, 3]
        depth = -local[:, 2]
        scale = self.frame_depth / np.where(np.abs(depth) < 1e-12, 1e-12, depth) if self.perspective else 1.0
        x, y = local[:, 0] * scale, local[:, 1] * scale
        u = (x - self.x_range[0]) / (self.x_range[1] - self.x_range[0])
        v = (y - self.y_range[0]) / (self.y_range[1] - self.y_range[0])
        return np.stack([u, v, depth], axis=1)

    def unproject(self, u: float, v: float, depth: float) -> np.ndarray:
        """Return the world point at frame position ``(u, v)`` and ``depth``; shape (3,)."""
        x = self.x_range[0] + u * (self.x_range[1] - self.x_range[0])
        y = self.y_range[0] + v * (self.y_range[1] - self.y_range[0])
        scale = depth / self.frame_depth if self.perspective else 1.0
        local = np.array([x * scale, y * scale, -depth, 1.0])
        return (self.to_world @ local)[:3]


def mesh_world_triangles(obj: Any) -> np.ndarray:
    """Return the evaluated mesh's triangles in world space, shape (T, 3, 3)."""
    bpy = import_bpy()
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        mesh.calc_loop_triangles()
        count = len(mesh.vertices)
        coords = np.empty(count * 3, dtype=np.float64)
        mesh.vertices.foreach_get("co", coords)
        coords = coords.reshape(count, 3)
        indices = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int64)
        mesh.loop_triangles.foreach_get("vertices", indices)
        matrix = np.array(obj.matrix_world, dtype=np.float64)
        world = coords @ matrix[:3, :3].T + matrix[:3, 3]
        return world[indices.reshape(-1, 3)]
    finally:
        evaluated.to_mesh_clear()


def rasterize_triangles(frame_triangles: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """Return a boolean mask of shape ``(height, width)`` covered by triangles in frame coordinates.

    ``frame_triangles`` has shape (T, 3, 2 or 3) with ``(u, v)`` first, as returned by
    :meth:`CameraProjection.project`; row 0 of the mask is the top of the image. With a third
    (depth) column, triangles that reach behind the camera are skipped. Edge pixels count as
    covered, so a mask overestimates an area by about one pixel along its outline.
    """
    from PIL import Image, ImageDraw  # noqa: PLC0415

    if frame_triangles.shape[-1] >= 3:
        frame_triangles = frame_triangles[(frame_triangles[..., 2] > 0).all(axis=1)]
    height, width = shape
    image = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(image)
    pixels = np.empty(frame_triangles.shape[:2] + (2,), dtype=np.float64)
    pixels[..., 0] = frame_triangles[..., 0] * width - 0.5
    pixels[..., 1] = (1.0 - frame_triangles[..., 1]) * height - 0.5
    inside = (pixels[..., 0].max(axis=1) >= -1) & (pixels[..., 0].min(axis=1) <= width) & \
        (pixels[..., 1].max(axis=1) >= -1) & (pixels[..., 1].min(axis=1) <= height)
    for triangle in pixels[inside]:
        draw.polygon([tuple(point) for point in triangle], fill=1)
    return np.array(image, dtype=bool)


def update_scene() -> None:
    """Recompute world matrices after transforms changed (``matrix_world`` is stale until then)."""
    import_bpy().context.view_layer.update()


def model_world_vertices(objects: List[Any]) -> np.ndarray:
    """Return the world-space vertices of several mesh objects, shape (N, 3)."""
    meshes = [obj for obj in objects if obj.type == "MESH"]
    if not meshes:
        return np.zeros((0, 3))
    return np.concatenate([mesh_world_vertices(obj) for obj in meshes])
