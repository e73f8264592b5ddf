"""Position control: move the model by an offset (scene units) from where it was loaded."""

from __future__ import annotations

from typing import Any, Dict

from threedb.controls.base_control import PreProcessControl
from threedb.rendering.blender_support import restore_transform, save_transform


class PositionControl(PreProcessControl):
    """``offset_x``, ``offset_y``, ``offset_z`` in scene units, each in [-1, 1] by default.

    The camera is placed after pre-processing controls run only if a camera control is
    listed after this one; otherwise the default camera stays where it was framed, so the
    object moves in the image.
    """

    def __init__(self, root_folder: str) -> None:
        dims = {"offset_x": (-1.0, 1.0), "offset_y": (-1.0, 1.0), "offset_z": (-1.0, 1.0)}
        super().__init__(root_folder, continuous_dims=dims)

    def apply(self, context: Dict[str, Any], control_args: Dict[str, Any]) -> None:
        obj = context["object"]
        self._saved = save_transform(obj)
        x, y, z = obj.location
        obj.location = (x + control_args["offset_x"], y + control_args["offset_y"], z + control_args["offset_z"])

    def unapply(self, context: Dict[str, Any]) -> None:
        restore_transform(context["object"], self._saved)


Control = BlenderControl = PositionControl
