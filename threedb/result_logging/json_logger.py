"""JSON lines logger: ``details.log`` with one JSON object per result, with real JSON types.

Each line contains ``id``, ``environment``, ``model``, ``render_args``, ``status``, ``target``
and every small channel of the result (``is_correct``, ``loss``, ``prediction``, ...). A
result whose controls measured something has ``measured`` too, e.g.
``{"OcclusionControl.achieved_ratio": 0.31}``.
Image channels are left to the image logger. Failed jobs are logged with ``status:
"failed"`` and their ``error``. Lines are flushed after each batch of items that the logger
process receives (one item per batch at rendering speed), so a crash loses nothing already
flushed and readers can follow the file while the run goes on. The ImageNet label map
is copied to ``class_maps.json`` and the evaluator's class map to ``uid_to_targets.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any, Dict

import numpy as np

from threedb.result_logging.base_logger import BaseLogger
from threedb.result_logging.buffer import BigChungusCyclicBuffer

# Channels with more values than this are images, not scalars, and are not written here.
MAX_LOGGED_VALUES = 64


def to_json_value(value: Any) -> Any:
    """Convert numpy scalars and arrays to plain Python values."""
    if isinstance(value, np.ndarray):
        return value.item() if value.ndim == 0 else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class JSONLogger(BaseLogger):
    """Write ``details.log`` in the output directory."""

    accepts_failures = True

    def __init__(self, root_dir: str, result_buffer: BigChungusCyclicBuffer, config: Dict[str, Any]) -> None:
        super().__init__(root_dir, result_buffer, config)
        self.handle = open(os.path.join(root_dir, "details.log"), "a", encoding="utf-8")
        self.regid = self.buffer.register()
        self.channels = [name for name, (shape, _) in result_buffer.channels.items()
                         if int(np.prod(shape or [1])) <= MAX_LOGGED_VALUES]
        self._copy_class_maps()

    def _copy_class_maps(self) -> None:
        label_map = (self.config.get("inference") or {}).get("label_map")
        if label_map and os.path.isfile(label_map):
            shutil.copyfile(label_map, os.path.join(self.root_dir, "class_maps.json"))
        classmap = ((self.config.get("evaluation") or {}).get("args") or {}).get("classmap_path")
        if classmap and os.path.isfile(classmap):
            shutil.copyfile(classmap, os.path.join(self.root_dir, "uid_to_targets.json"))

    def log(self, item: Dict[str, Any] | None) -> None:
        if item is None:
            self.handle.close()
            return

        record: Dict[str, Any] = {key: item.get(key) for key in ("id", "environment", "model")}
        record["render_args"] = {k: to_json_value(v) for k, v in item.get("render_args", {}).items()}
        if item.get("measured"):
            record["measured"] = {k: to_json_value(v) for k, v in item["measured"].items()}
        record["status"] = item.get("status", "ok")
        if "target" in item:
            record["target"] = to_json_value(item["target"])

        if record["status"] == "failed":
            record["error"] = item.get("error", "")
            record["attempts"] = item.get("attempts", 1)
        else:
            index = item["result_ix"]
            # Read the small channels straight from the shared arrays: ``self.buffer[index]``
            # would also make views of the image channels, which this logger never reads.
            arrays = self.buffer.arrays
            for name in self.channels:
                record[name] = arrays[name][index].tolist()
            self.buffer.free(index, self.regid)

        self.handle.write(json.dumps(record) + "\n")

    def flush(self) -> None:
        """Write buffered lines to the file; called after each batch of items."""
        self.handle.flush()


Logger = JSONLogger
