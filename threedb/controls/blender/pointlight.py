"""Point-light control: add a coloured point light at a direction and distance from the model."""

from __future__ import annotations

import colorsys
from typing import Any, Dict

import numpy as np

from threedb.controls.base_control import PreProcessControl
from threedb.rendering.blender_support import import_bpy, update_scene, world_bounding_box

LIGHT_NAME = "threedb_point_light"


class PointLightControl(PreProcessControl):
    """Add one point light for the render and remove it afterwards.

    - ``H``, ``S``, ``V`` in [0, 1]: the light's colour in HSV.
    - ``intensity`` in [1000, 10000]: the light's power in watts (Blender's point-light
      ``energy``). How bright that looks depends on the environment's own lighting.
    - ``distance`` in [5, 20] scene units: from the centre of the model's bounding box.
    - ``dir_x``, ``dir_y`` in [-1, 1] and ``dir_z`` in [0, 1]: the direction from the model's
      centre to the light (normalised; +Z is up). A zero vector means straight up.

    The light's radius is 1 scene unit, so its shadows are soft.
    """

    def __init__(self, root_folder: str) -> None:
        dims = {"H": (0.0, 1.0), "S": (0.0, 1.0), "V": (0.0, 1.0), "intensity": (1000.0, 10000.0),
                "distance": (5.0, 20.0), "dir_x": (-1.0, 1.0), "dir_y": (-1.0, 1.0), "dir_z": (0.0, 1.0)}
        super().__init__(root_folder, continuous_dims=dims)
        self._light: Any = None

    def apply(self, context: Dict[str, Any], control_args: Dict[str, Any]) -> None:
        bpy = import_bpy()
        update_scene()
        low, high = world_bounding_box(context["renderer"].model_objects())
        direction = np.array([control_args["dir_x"], control_args["dir_y"], control_args["dir_z"]], dtype=float)
        length = float(np.linalg.norm(direction))
        direction = direction / length if length > 1e-9 else np.array([0.0, 0.0, 1.0])

        location = tuple((low + high) / 2 + direction * control_args["distance"])
        colour = colorsys.hsv_to_rgb(control_args["H"], control_args["S"], control_args["V"])
        energy = float(control_args["intensity"])

        data = bpy.data.lights.new(LIGHT_NAME, type="POINT")
        data.color = colour
        data.energy = energy
        data.shadow_soft_size = 1.0
        light = bpy.data.objects.new(LIGHT_NAME, data)
        light.location = location
        context["scene"].collection.objects.link(light)
        self._light = light

    def unapply(self, context: Dict[str, Any]) -> None:
        if self._light is None:
            return
        bpy = import_bpy()
        data = self._light.data
        bpy.data.objects.remove(self._light)
        bpy.data.lights.remove(data)
        self._light = None


Control = BlenderControl = PointLightControl
