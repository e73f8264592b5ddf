"""CSV logger: ``details.csv`` with the id, correctness, loss and every control parameter."""

from __future__ import annotations

import csv
import os
from typing import Any, Dict, List

import numpy as np

from threedb.result_logging.base_logger import BaseLogger
from threedb.result_logging.buffer import BigChungusCyclicBuffer


class CSVLogger(BaseLogger):
    """Write one row per result; the header is taken from the first result's parameters."""

    def __init__(self, root_dir: str, result_buffer: BigChungusCyclicBuffer, config: Dict[str, Any]) -> None:
        super().__init__(root_dir, result_buffer, config)
        path = os.path.join(root_dir, "details.csv")
        self.param_keys: List[str] | None = None
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            # A resumed run appends under the header the first part wrote.
            with open(path, newline="", encoding="utf-8") as existing:
                self.param_keys = next(csv.reader(existing))[5:]
        self.handle = open(path, "a", newline="", encoding="utf-8")
        self.writer = csv.writer(self.handle)
        self.regid = self.buffer.register()

    def log(self, item: Dict[str, Any] | None) -> None:
        if item is None:
            self.handle.close()
            return
        index = item["result_ix"]
        data = self.buffer[index]
        if self.param_keys is None:
            self.param_keys = sorted(item["render_args"])
            self.writer.writerow(["id", "environment", "model", "is_correct", "loss"] + self.param_keys)
        is_correct = bool(np.asarray(data["is_correct"])) if "is_correct" in data else ""
        loss = float(np.asarray(data["loss"])) if "loss" in data else ""
        params = [item["render_args"].get(k, "") for k in self.param_keys]
        self.buffer.free(index, self.regid)
        self.writer.writerow([item["id"], item["environment"], item["model"], is_correct, loss] + params)
        self.handle.flush()


Logger = CSVLogger
