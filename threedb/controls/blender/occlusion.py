"""Occlusion control: put an occluder from ``ood_objects/`` between the camera and the model."""

from __future__ import annotations

import logging
import math
import os
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from threedb.controls.base_control import PreProcessControl
from threedb.errors import DataError
from threedb.rendering.blender_support import (AddedDataBlocks, CameraProjection, append_objects,
                                               mesh_world_triangles, rasterize_triangles, translate_world,
                                               update_scene)

logger = logging.getLogger(__name__)

OCCLUDER_FOLDER = "ood_objects"
# Longer side, in pixels, of the silhouette masks that measure the covered fraction.
MASK_SIZE = 256
SCAN_STEPS = 24
BISECTION_STEPS = 8


class OcclusionControl(PreProcessControl):
    """Hide part of the model behind an occluder, seen from the current camera.

    - ``occlusion_ratio`` in [0.1, 1]: the fraction of the model's silhouette that the
      occluder's silhouette covers.
    - ``zoom`` in [0.1, 0.4]: where the occluder sits between the model and the camera, as a
      fraction of the free depth between the model's nearest point and the camera (0: touching
      the model's front, 1: at the camera). Larger values make the occluder look larger.
    - ``scale`` in [0.25, 1]: the occluder's scale, times its scale in its file.
    - ``direction`` in 0-7: the side the occluder comes from, an index into ``DIRECTIONS``
      (``(x, y)`` in the image with +x right and +y up, so 0 is lower right and 6 is left).
    - ``occluder``: an index into the ``.blend`` files of ``ood_objects/``, sorted by name.

    The occluder slides from outside the model's silhouette towards its centre, parallel to
    the image plane, until the covered fraction of the silhouettes (rasterised from the
    meshes) reaches ``occlusion_ratio``. An occluder too small to cover that much stops where
    it covers most. The occluder's pass index is 0, so segmentation does not count it as the
    model. List this control after every control that moves the model or the camera.

    Results record the fraction reached as ``OcclusionControl.achieved_ratio`` under
    ``measured``: a small occluder can cover less than the requested ratio.
    """

    DIRECTIONS: List[Tuple[int, int]] = [(1, -1), (1, 0), (1, 1), (0, -1), (0, 1), (-1, -1), (-1, 0), (-1, 1)]

    def __init__(self, root_folder: str) -> None:
        folder = os.path.join(root_folder, OCCLUDER_FOLDER)
        if not os.path.isdir(folder):
            raise DataError(f"occluder folder not found: {folder} (the occlusion control needs .blend files there)")
        names = sorted(f for f in os.listdir(folder) if f.lower().endswith(".blend") and not f.startswith("."))
        if not names:
            raise DataError(f"no .blend occluder files in {folder}")
        self.occluder_paths = [os.path.join(folder, name) for name in names]
        continuous = {"occlusion_ratio": (0.1, 1.0), "zoom": (0.1, 0.4), "scale": (0.25, 1.0)}
        discrete = {"direction": list(range(len(self.DIRECTIONS))), "occluder": list(range(len(names)))}
        super().__init__(root_folder, continuous_dims=continuous, discrete_dims=discrete)
        self._added: AddedDataBlocks | None = None
        self.achieved_ratio = 0.0

    def measurements(self) -> Dict[str, float]:
        return {"achieved_ratio": self.achieved_ratio}

    def apply(self, context: Dict[str, Any], control_args: Dict[str, Any]) -> None:
        self.achieved_ratio = 0.0
        self._added = AddedDataBlocks()
        try:
            self._place(context, control_args)
            self._added.freeze()
        except BaseException:
            # The worker undoes only controls whose apply returned, so remove the occluder here.
            self.unapply(context)
            raise

    def unapply(self, context: Dict[str, Any]) -> None:
        if self._added is not None:
            self._added.remove()
            self._added = None

    def _place(self, context: Dict[str, Any], args: Dict[str, Any]) -> None:
        scene = context["scene"]
        path = self.occluder_paths[int(args["occluder"])]
        objects = append_objects(path, scene)
        meshes = [obj for obj in objects if obj.type == "MESH"]
        if not meshes:
            raise DataError(f"occluder file contains no mesh object: {path}")
        roots = [obj for obj in objects if obj.parent not in objects]
        for obj in objects:
            obj.pass_index = 0
        for root in roots:
            root.scale = tuple(s * args["scale"] for s in root.scale)
        update_scene()

        projection = CameraProjection(scene, context["camera"])
        shape = _mask_shape(projection.aspect)
        model = _project_triangles(projection, [o for o in context["renderer"].model_objects() if o.type == "MESH"])
        model_mask = rasterize_triangles(model, shape)
        occluder = np.concatenate([mesh_world_triangles(obj) for obj in meshes])
        points = occluder.reshape(-1, 3)
        centre = (points.min(axis=0) + points.max(axis=0)) / 2
        radius = float(np.linalg.norm(points - centre, axis=1).max())
        depth = self._occluder_depth(float(model[..., 2].min()), radius, args["zoom"], context["camera"])

        def occluder_at(u: float, v: float) -> np.ndarray:
            world = projection.unproject(u, v, depth)
            return projection.project((occluder - centre + world).reshape(-1, 3)).reshape(occluder.shape)

        def coverage_at(u: float, v: float) -> float:
            mask = rasterize_triangles(occluder_at(u, v), shape)
            return float((mask & model_mask).sum()) / max(1, int(model_mask.sum()))

        if model_mask.any():
            u, v, self.achieved_ratio = _slide(model_mask, self.DIRECTIONS[int(args["direction"])],
                                               float(args["occlusion_ratio"]), coverage_at, occluder_at)
        else:
            logger.debug("the model is not in the frame; the occluder goes to the frame centre")
            u, v, self.achieved_ratio = 0.5, 0.5, 0.0
        for root in roots:
            translate_world(root, projection.unproject(u, v, depth) - centre)
        logger.debug("occluder %s covers %.3f of the model (requested %.3f)", os.path.basename(path),
                     self.achieved_ratio, args["occlusion_ratio"])

    @staticmethod
    def _occluder_depth(model_front: float, radius: float, zoom: float, camera: Any) -> float:
        """Return the depth of the occluder's centre along the view axis, in scene units."""
        touching = model_front - radius
        nearest = radius + camera.data.clip_start
        # NOTE: an occluder larger than the free space in front of the model (``touching`` below
        # ``nearest``) is kept just clear of the camera, so it may cut into the model.
        return max(touching * (1.0 - zoom), nearest)


def _mask_shape(aspect: float) -> Tuple[int, int]:
    if aspect >= 1:
        return max(1, round(MASK_SIZE / aspect)), MASK_SIZE
    return MASK_SIZE, max(1, round(MASK_SIZE * aspect))


def _project_triangles(projection: CameraProjection, objects: List[Any]) -> np.ndarray:
    triangles = np.concatenate([mesh_world_triangles(obj) for obj in objects])
    return projection.project(triangles.reshape(-1, 3)).reshape(triangles.shape)


def _slide(model_mask: np.ndarray, direction: Tuple[int, int], ratio: float,
           coverage_at: Callable[[float, float], float],
           occluder_at: Callable[[float, float], np.ndarray]) -> Tuple[float, float, float]:
    """Find where along ``direction`` the occluder covers ``ratio`` of the model's silhouette.

    ``coverage_at(u, v)`` returns the covered fraction with the occluder's centre at frame
    position ``(u, v)``, ``occluder_at(u, v)`` the occluder's projected triangles there.
    Distances are in mask pixels from the silhouette's centroid, so diagonal directions are
    diagonal in the image whatever its aspect. Returns ``(u, v, covered fraction)``.
    """
    height, width = model_mask.shape
    rows, cols = np.nonzero(model_mask)
    centre_col, centre_row = cols.mean() + 0.5, rows.mean() + 0.5
    length = math.hypot(*direction)
    step_col, step_row = direction[0] / length, -direction[1] / length

    def frame_position(distance: float) -> Tuple[float, float]:
        return ((centre_col + step_col * distance) / width, 1.0 - (centre_row + step_row * distance) / height)

    # Start where the occluder's projected vertices (not its mask, which the frame clips) are
    # all farther from the centroid than the silhouette reaches.
    start_u, start_v = frame_position(0.0)
    projected = occluder_at(start_u, start_v).reshape(-1, 3)
    occluder_extent = float(np.hypot((projected[:, 0] - start_u) * width, (projected[:, 1] - start_v) * height).max())
    model_extent = float(np.hypot(cols + 0.5 - centre_col, rows + 0.5 - centre_row).max())
    far = model_extent + occluder_extent + 2.0

    distances = np.linspace(far, 0.0, SCAN_STEPS + 1)
    covered = [coverage_at(*frame_position(d)) for d in distances]
    crossing = next((i for i, c in enumerate(covered) if c >= ratio), None)
    if crossing is None:
        best = int(np.argmax(covered))
        return (*frame_position(distances[best]), covered[best])
    if crossing == 0:
        return (*frame_position(distances[0]), covered[0])

    outside, inside = distances[crossing - 1], distances[crossing]
    reached = covered[crossing]
    for _ in range(BISECTION_STEPS):
        middle = (outside + inside) / 2
        value = coverage_at(*frame_position(middle))
        if value >= ratio:
            inside, reached = middle, value
        else:
            outside = middle
    return (*frame_position(inside), reached)


Control = BlenderControl = OcclusionControl
