"""Image logger: writes each result's image channels under ``images/``.

- ``rgb`` (3, H, W) float in [0, 1] -> ``images/<id>_rgb.png`` (8-bit RGB);
- ``segmentation`` (H, W) int32 -> ``images/<id>_segmentation.npy`` (exact labels, -1 for
  background) and a preview ``images/<id>_segmentation.png``;
- ``depth`` (H, W) float32 -> ``images/<id>_depth.npy`` (lossless, scene units);
- ``uv`` (2, H, W) float32 -> ``images/<id>_uv.npy`` (lossless).

Entries are copied out of the buffer and freed at once; PNG encoding runs on a thread
pool (zlib releases the GIL), so encoding uses every core without holding buffer slots.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Dict, List

import numpy as np
from PIL import Image

from threedb.result_logging.base_logger import BaseLogger
from threedb.result_logging.buffer import BigChungusCyclicBuffer

IMAGE_CHANNELS = ("rgb", "segmentation", "depth", "uv")


def save_channel(directory: str, job_id: str, name: str, array: np.ndarray) -> None:
    """Write one channel of one result in its file format (see the module docstring)."""
    base = os.path.join(directory, f"{job_id}_{name}")
    if name == "rgb":
        pixels = (np.clip(array.transpose(1, 2, 0), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        Image.fromarray(pixels).save(base + ".png", compress_level=1)
    elif name == "segmentation":
        np.save(base + ".npy", array.astype(np.int32))
        preview = np.where(array >= 0, 255, 0).astype(np.uint8)
        Image.fromarray(preview).save(base + ".png", compress_level=1)
    else:
        np.save(base + ".npy", array.astype(np.float32))


class ImageLogger(BaseLogger):
    """Write image channels as PNG and ``.npy`` files."""

    def __init__(self, root_dir: str, result_buffer: BigChungusCyclicBuffer, config: Dict[str, Any]) -> None:
        super().__init__(root_dir, result_buffer, config)
        self.directory = os.path.join(root_dir, "images")
        os.makedirs(self.directory, exist_ok=True)
        self.regid = self.buffer.register()
        self.channels = [c for c in IMAGE_CHANNELS if c in result_buffer.channels]
        self.pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1))
        self.pending: List[Future] = []

    def log(self, item: Dict[str, Any] | None) -> None:
        if item is None:
            self._wait(0)
            self.pool.shutdown(wait=True)
            return
        index = item["result_ix"]
        data = self.buffer[index]
        copies = {name: np.array(data[name]) for name in self.channels}
        self.buffer.free(index, self.regid)
        for name, array in copies.items():
            self.pending.append(self.pool.submit(save_channel, self.directory, item["id"], name, array))
        self._wait(4 * (os.cpu_count() or 1))

    def _wait(self, keep: int) -> None:
        """Wait until at most ``keep`` writes are pending; raise the first write error."""
        while len(self.pending) > keep:
            self.pending.pop(0).result()
        finished = [f for f in self.pending if f.done()]
        for future in finished:
            self.pending.remove(future)
            future.result()


Logger = ImageLogger
