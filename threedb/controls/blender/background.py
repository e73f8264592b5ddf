"""Background control: replace everything behind the object with a flat colour."""

from __future__ import annotations

import colorsys
from typing import Any, Dict

import torch

from threedb.controls.base_control import PostProcessControl


class BackgroundControl(PostProcessControl):
    """``H``, ``S``, ``V`` in [0, 1]: the background colour in HSV (display space).

    Pixels are blended by the render's alpha: ``rgb * alpha + colour * (1 - alpha)``, so
    pixels with alpha 0 become exactly the colour.
    """

    def __init__(self, root_folder: str) -> None:
        super().__init__(root_folder, continuous_dims={"H": (0.0, 1.0), "S": (0.0, 1.0), "V": (0.0, 1.0)})

    def apply(self, render: torch.Tensor, control_args: Dict[str, Any]) -> torch.Tensor:
        red, green, blue = colorsys.hsv_to_rgb(control_args["H"], control_args["S"], control_args["V"])
        colour = torch.tensor([red, green, blue], dtype=render.dtype).view(3, 1, 1)
        alpha = render[3:4]
        blended = render[:3] * alpha + colour * (1 - alpha)
        return torch.cat([blended, alpha], dim=0)


Control = BlenderControl = BackgroundControl
