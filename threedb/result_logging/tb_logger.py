"""TensorBoard logger: running accuracy and loss as scalars, and sample images, under ``tensorboard/``."""

from __future__ import annotations

import os
from typing import Any, Dict

import numpy as np

from threedb.result_logging.base_logger import BaseLogger
from threedb.result_logging.buffer import BigChungusCyclicBuffer

IMAGE_EVERY = 10  # results between two sample images


class TensorBoardLogger(BaseLogger):
    """Write TensorBoard event files; step = number of results logged so far."""

    def __init__(self, root_dir: str, result_buffer: BigChungusCyclicBuffer, config: Dict[str, Any]) -> None:
        super().__init__(root_dir, result_buffer, config)
        from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415 - heavy import

        self.writer = SummaryWriter(log_dir=os.path.join(root_dir, "tensorboard"))
        self.regid = self.buffer.register()
        self.count = 0
        self.correct = 0

    def log(self, item: Dict[str, Any] | None) -> None:
        if item is None:
            self.writer.flush()
            self.writer.close()
            return
        index = item["result_ix"]
        data = self.buffer[index]
        is_correct = bool(np.asarray(data["is_correct"])) if "is_correct" in data else False
        loss = float(np.asarray(data["loss"])) if "loss" in data else float("nan")
        image = np.array(data["rgb"]) if self.count % IMAGE_EVERY == 0 and "rgb" in data else None
        self.buffer.free(index, self.regid)

        self.count += 1
        self.correct += int(is_correct)
        self.writer.add_scalar("accuracy", self.correct / self.count, self.count)
        self.writer.add_scalar("loss", loss, self.count)
        if image is not None:
            tag = f"renders/{item['model']}/{item['environment']}"
            self.writer.add_image(tag, np.clip(image, 0, 1), self.count, dataformats="CHW")


Logger = TensorBoardLogger
