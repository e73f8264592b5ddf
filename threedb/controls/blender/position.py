"""Position control: move the model by an offset (scene units) from where it was loaded."""

from __future__ import annotations

from typing import Any, Dict

from threedb.controls.base_control import PreProcessControl


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
        self._saved = tuple(obj.location)
        obj.location = (self._saved[0] + control_args["offset_x"], self._saved[1] + control_args["offset_y"],
                        self._saved[2] + control_args["offset_z"])

    def unapply(self, context: Dict[str, Any]) -> None:
        context["object"].location = self._saved


Control = BlenderControl = PositionControl
