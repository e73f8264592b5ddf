"""ImageNet-C control: one of the 19 ImageNet-C corruptions at severity 1-5, applied to the render.

The corruptions come from the ``imagecorruptions`` package (bethgelab, a packaging of Hendrycks
and Dietterich's ImageNet-C code), loaded through :mod:`threedb.controls.blender._imagecorruptions`.
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np
import torch

from threedb.controls.base_control import PostProcessControl
from threedb.controls.blender import _imagecorruptions
from threedb.errors import DataError

CORRUPTIONS = ["gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
               "zoom_blur", "snow", "frost", "fog", "speckle_noise", "gaussian_blur", "spatter", "saturate",
               "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression"]
MIN_SIZE = 32


class ImagenetCControl(PostProcessControl):
    """``corruption_name``: one of ``CORRUPTIONS``; ``severity``: 1 to 5.

    The colour channels are quantised to 8 bits, corrupted and scaled back to [0, 1]; the alpha
    channel passes through unchanged. The corruption applies to the whole composited image, so
    a ``background`` control must come before this one in ``controls`` (the config check
    rejects the other order). Renders must be at least 32 × 32 px, the package's minimum.
    """

    run_after = ("BackgroundControl",)

    def __init__(self, root_folder: str) -> None:
        super().__init__(root_folder, discrete_dims={"corruption_name": list(CORRUPTIONS),
                                                     "severity": [1, 2, 3, 4, 5]})

    def apply(self, render: torch.Tensor, control_args: Dict[str, Any]) -> torch.Tensor:
        height, width = render.shape[1:]
        if height < MIN_SIZE or width < MIN_SIZE:
            raise DataError(f"ImageNet-C corruptions need images of at least {MIN_SIZE} x {MIN_SIZE} px, got "
                            f"{width} x {height}; raise render_args.resolution")
        rgb = render[:3].clamp(0, 1).permute(1, 2, 0).numpy()
        pixels = np.round(rgb * 255).astype(np.uint8)
        corrupted = _imagecorruptions.corrupt(pixels, control_args["corruption_name"], int(control_args["severity"]))
        colour = torch.from_numpy(corrupted.astype(np.float32) / 255).permute(2, 0, 1)
        return torch.cat([colour.to(render.dtype), render[3:4]], dim=0)


Control = BlenderControl = ImagenetCControl
