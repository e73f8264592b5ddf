"""Build the inference function from the config's ``inference`` section (3DB's layout:
``module``, ``class``, ``args``, ``normalization``, ``resolution``), plus ``checkpoint``."""

from __future__ import annotations

import importlib
import logging
from typing import Any, Callable, Dict

import torch

logger = logging.getLogger(__name__)


def load_checkpoint(model: torch.nn.Module, path: str) -> None:
    """Load a state dict, or a dict holding one under ``state_dict``/``model``, into ``model``."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    # Checkpoints saved from DataParallel prefix every key with "module.".
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    model.load_state_dict(state)


class InferenceModel:
    """The model under test with its preprocessing.

    ``__call__`` takes a float32 tensor (N, 3, H, W) with values in [0, 1] and returns the
    model's raw outputs (N, num_classes) for a classifier.
    """

    def __init__(self, settings: Dict[str, Any]) -> None:
        module = importlib.import_module(settings["module"])
        factory: Callable[..., torch.nn.Module] = getattr(module, settings["class"])
        self.model = factory(**(settings.get("args") or {}))
        if settings.get("checkpoint"):
            load_checkpoint(self.model, settings["checkpoint"])
        self.model.eval()
        self.resolution = list(settings["resolution"])
        normalization = settings["normalization"]
        self.mean = torch.tensor(normalization["mean"], dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(normalization["std"], dtype=torch.float32).view(1, 3, 1, 1)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        if list(images.shape[-2:]) != self.resolution:
            images = torch.nn.functional.interpolate(images, size=self.resolution, mode="bilinear",
                                                     align_corners=False, antialias=True)
        return (images - self.mean) / self.std

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(self.preprocess(images))
