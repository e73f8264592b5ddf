"""Mug-liquid control of 3DB: the mix of coffee, milk and water in a mug's liquid material."""

from __future__ import annotations

from typing import Any, Dict

from threedb.controls.base_control import PreProcessControl
from threedb.controls.blender.material_nodes import SocketWriter
from threedb.errors import DataError

LIQUID_MATERIAL = "liquid"


class MugLiquidControl(PreProcessControl):
    """``ratio_milk`` and ``ratio_coffee`` in [0, 1]; water makes up ``1 - ratio_milk - ratio_coffee``.

    The model needs a material slot named ``liquid`` whose node tree has two Value nodes:
    ``coffee_milk_ratio`` receives ``ratio_coffee / (ratio_coffee + ratio_milk)`` (0.5 when
    both are 0) and ``water_ratio`` receives ``1 - ratio_coffee - ratio_milk``, clipped to
    [0, 1]. For other node layouts use :mod:`threedb.controls.blender.material_nodes`.
    """

    def __init__(self, root_folder: str) -> None:
        super().__init__(root_folder, continuous_dims={"ratio_milk": (0.0, 1.0), "ratio_coffee": (0.0, 1.0)})
        self._writer = SocketWriter()

    def apply(self, context: Dict[str, Any], control_args: Dict[str, Any]) -> None:
        obj = context["object"]
        slot = obj.material_slots.get(LIQUID_MATERIAL) if hasattr(obj, "material_slots") else None
        if slot is None or slot.material is None or slot.material.node_tree is None:
            raise DataError(f"{self.name}: model {obj.name!r} has no material slot named {LIQUID_MATERIAL!r} "
                            f"with a node tree")
        nodes = slot.material.node_tree.nodes
        missing = [n for n in ("coffee_milk_ratio", "water_ratio") if nodes.get(n) is None]
        if missing:
            raise DataError(f"{self.name}: material {LIQUID_MATERIAL!r} has no node named {', '.join(missing)}")

        coffee, milk = float(control_args["ratio_coffee"]), float(control_args["ratio_milk"])
        coffee_share = coffee / (coffee + milk) if coffee + milk > 0 else 0.5
        water = min(1.0, max(0.0, 1.0 - coffee - milk))
        self._writer.write(nodes["coffee_milk_ratio"].outputs[0], coffee_share, None, "coffee_milk_ratio")
        self._writer.write(nodes["water_ratio"].outputs[0], water, None, "water_ratio")

    def unapply(self, context: Dict[str, Any]) -> None:
        self._writer.restore()


Control = BlenderControl = MugLiquidControl
