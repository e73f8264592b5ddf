"""A classifier that raises on every second input it receives, to test failing inference."""

import torch


class FlakyClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, images):
        self.calls += 1
        if self.calls % 2 == 0:
            raise RuntimeError("model failed on this input")
        return torch.zeros(images.shape[0], 1000)
