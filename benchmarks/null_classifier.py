"""A classifier that costs almost nothing, for measuring threedb without its model's cost.

bench_overhead.py runs threedb once with EfficientNet-Lite0 and once with this model; the
difference is the classifier's share of threedb's gap to a plain bpy script.
"""

from __future__ import annotations

import torch

IMAGENET_CLASSES = 1000


class NullClassifier(torch.nn.Module):
    """Return the same logits for every image: class 0 first, then 1, 2, ... (no weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("logits", -torch.arange(IMAGENET_CLASSES, dtype=torch.float32))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(images.shape[0], -1)
