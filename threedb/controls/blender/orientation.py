"""Orientation control: rotate the model about its origin (Euler XYZ, radians)."""

from __future__ import annotations

from typing import Any, Dict

from threedb.controls.base_control import PreProcessControl
from threedb.rendering.blender_support import restore_transform, save_transform


class OrientationControl(PreProcessControl):
    """``rotation_x``, ``rotation_y``, ``rotation_z`` in radians, each in [-pi, pi] by default,
    set as the model's Euler XYZ rotation (replacing its rotation as loaded)."""

    def __init__(self, root_folder: str) -> None:
        dims = {"rotation_x": (-3.14159, 3.14159), "rotation_y": (-3.14159, 3.14159),
                "rotation_z": (-3.14159, 3.14159)}
        super().__init__(root_folder, continuous_dims=dims)

    def apply(self, context: Dict[str, Any], control_args: Dict[str, Any]) -> None:
        obj = context["object"]
        rotation = (control_args["rotation_x"], control_args["rotation_y"], control_args["rotation_z"])
        self._saved = save_transform(obj)
        obj.rotation_mode = "XYZ"
        obj.rotation_euler = rotation

    def unapply(self, context: Dict[str, Any]) -> None:
        restore_transform(context["object"], self._saved)


Control = BlenderControl = OrientationControl
