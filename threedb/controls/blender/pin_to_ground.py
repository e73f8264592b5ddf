"""Pin-to-ground control: move the model up or down until its lowest point rests on a height."""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

from threedb.controls.base_control import PreProcessControl
from threedb.rendering.blender_support import (model_world_vertices, restore_transform, save_transform,
                                               translate_world, update_scene)


class PinToGroundControl(PreProcessControl):
    """``z_ground`` in [0, 1] scene units by default: the world Z of the model's lowest vertex.

    The model moves along world Z only, from where the controls listed before it left it, so
    list it after ``position``, ``orientation`` and ``scale``. A camera control listed after it
    frames the moved model; without one the camera stays put and the model moves in the image.
    """

    def __init__(self, root_folder: str) -> None:
        super().__init__(root_folder, continuous_dims={"z_ground": (0.0, 1.0)})

    def apply(self, context: Dict[str, Any], control_args: Dict[str, Any]) -> None:
        obj = context["object"]
        self._saved = save_transform(obj)
        update_scene()
        vertices = model_world_vertices(context["renderer"].model_objects())
        lowest = float(vertices[:, 2].min())
        translate_world(obj, np.array([0.0, 0.0, control_args["z_ground"] - lowest]))

    def unapply(self, context: Dict[str, Any]) -> None:
        restore_transform(context["object"], self._saved)


Control = BlenderControl = PinToGroundControl
