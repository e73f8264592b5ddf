"""Orientation control: rotate the model about its origin (Euler XYZ, radians)."""

from __future__ import annotations

from typing import Any, Dict

from threedb.controls.base_control import PreProcessControl


class OrientationControl(PreProcessControl):
    """``rotation_x``, ``rotation_y``, ``rotation_z`` in radians, each in [-pi, pi] by default,
    set as the model's Euler XYZ rotation (replacing its rotation as loaded)."""

    def __init__(self, root_folder: str) -> None:
        dims = {"rotation_x": (-3.14159, 3.14159), "rotation_y": (-3.14159, 3.14159),
                "rotation_z": (-3.14159, 3.14159)}
        super().__init__(root_folder, continuous_dims=dims)

    def apply(self, context: Dict[str, Any], control_args: Dict[str, Any]) -> None:
        obj = context["object"]
        self._saved = (obj.rotation_mode, tuple(obj.rotation_euler))
        obj.rotation_mode = "XYZ"
        obj.rotation_euler = (control_args["rotation_x"], control_args["rotation_y"], control_args["rotation_z"])

    def unapply(self, context: Dict[str, Any]) -> None:
        obj = context["object"]
        obj.rotation_mode, obj.rotation_euler = self._saved[0], self._saved[1]


Control = BlenderControl = OrientationControl
