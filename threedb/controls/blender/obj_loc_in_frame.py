"""Object-location-in-frame control: move the model so that its centre lands at a point of the image."""

from __future__ import annotations

from typing import Any, Dict

from threedb.controls.base_control import PreProcessControl
from threedb.rendering.blender_support import (CameraProjection, restore_transform, save_transform,
                                               translate_world, update_scene, world_bounding_box)


class ObjLocInFrameControl(PreProcessControl):
    """``x_shift``, ``y_shift`` in [-1, 1]: where the centre of the model's bounding box appears.

    ``(0, 0)`` is the image centre, ``x_shift`` -1 / +1 the left / right edge and ``y_shift``
    -1 / +1 the bottom / top edge. The model moves parallel to the image plane and keeps its
    depth along the camera's view axis, so its size in the image stays the same. The camera must
    be in place already: list this control after ``camera`` (a camera control listed later
    re-centres the model and undoes the shift).
    """

    def __init__(self, root_folder: str) -> None:
        super().__init__(root_folder, continuous_dims={"x_shift": (-1.0, 1.0), "y_shift": (-1.0, 1.0)})

    def apply(self, context: Dict[str, Any], control_args: Dict[str, Any]) -> None:
        obj = context["object"]
        self._saved = save_transform(obj)
        update_scene()
        low, high = world_bounding_box(context["renderer"].model_objects())
        centre = (low + high) / 2
        projection = CameraProjection(context["scene"], context["camera"])
        depth = projection.project(centre)[0, 2]
        target = projection.unproject((control_args["x_shift"] + 1) / 2, (control_args["y_shift"] + 1) / 2, depth)
        translate_world(obj, target - centre)

    def unapply(self, context: Dict[str, Any]) -> None:
        restore_transform(context["object"], self._saved)


Control = BlenderControl = ObjLocInFrameControl
