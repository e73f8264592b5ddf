"""Scale control: multiply the model's size by ``factor``."""

from __future__ import annotations

from typing import Any, Dict

from threedb.controls.base_control import PreProcessControl
from threedb.rendering.blender_support import restore_transform, save_transform


class ScaleControl(PreProcessControl):
    """``factor`` in [0.25, 1] by default: the model's scale is its loaded scale times ``factor``."""

    def __init__(self, root_folder: str) -> None:
        super().__init__(root_folder, continuous_dims={"factor": (0.25, 1.0)})

    def apply(self, context: Dict[str, Any], control_args: Dict[str, Any]) -> None:
        obj = context["object"]
        self._saved = save_transform(obj)
        factor = control_args["factor"]
        obj.scale = tuple(s * factor for s in obj.scale)

    def unapply(self, context: Dict[str, Any]) -> None:
        restore_transform(context["object"], self._saved)


Control = BlenderControl = ScaleControl
