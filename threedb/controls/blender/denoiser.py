"""Denoiser control: turn on Cycles' OpenImageDenoise for the render."""

from __future__ import annotations

from typing import Any, Dict

from threedb.controls.base_control import PreProcessControl


class DenoiseControl(PreProcessControl):
    """No parameters: while active, Cycles denoises the render (useful with few samples)."""

    def __init__(self, root_folder: str) -> None:
        super().__init__(root_folder)

    def apply(self, context: Dict[str, Any], control_args: Dict[str, Any]) -> None:
        cycles = context["scene"].cycles
        self._saved = (cycles.use_denoising, cycles.denoiser)
        cycles.use_denoising = True
        cycles.denoiser = "OPENIMAGEDENOISE"

    def unapply(self, context: Dict[str, Any]) -> None:
        cycles = context["scene"].cycles
        cycles.use_denoising, cycles.denoiser = self._saved


Control = BlenderControl = DenoiseControl
