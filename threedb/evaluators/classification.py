"""Classification evaluator: top-k correctness, cross-entropy loss and the top predictions."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Tuple

import torch

from threedb.evaluators.base_evaluator import BaseEvaluator, LabelType

LOGGED_PREDICTIONS = 5  # top predictions logged per result, best first


class SimpleClassificationEvaluator(BaseEvaluator):
    """Score a classifier's logits against the model's class(es).

    ``classmap_path`` is a JSON file mapping each model uid (file name without extension) to a
    class index or a list of acceptable indices. A prediction is correct when one of the
    ``topk`` highest logits is an acceptable class. The loss is the cross-entropy against each
    acceptable class, averaged.
    """

    output_type = "classes"
    KEYS = ["is_correct", "loss", "prediction", "confidence"]

    def __init__(self, *, classmap_path: str, topk: int = 1) -> None:
        if not isinstance(topk, int) or topk < 1:
            raise ValueError(f"topk must be an integer >= 1, got {topk!r}")
        self.topk = topk
        with open(classmap_path, encoding="utf-8") as handle:
            self.uid_to_targets: Dict[str, LabelType] = json.load(handle)

    def declare_outputs(self) -> Dict[str, Tuple[List[int], str]]:
        return {
            "is_correct": ([], "bool"),
            "loss": ([], "float32"),
            "prediction": ([LOGGED_PREDICTIONS], "int32"),
            "confidence": ([LOGGED_PREDICTIONS], "float32"),
        }

    def get_target(self, model_uid: str, render_output: Dict[str, Any] | None = None) -> LabelType:
        return self.uid_to_targets[model_uid]

    def get_segmentation_label(self, model_uid: str) -> int:
        label = self.uid_to_targets[model_uid]
        return int(label[0] if isinstance(label, list) else label)

    def summary_stats(self, pred: torch.Tensor, label: LabelType) -> Dict[str, Any]:
        labels = [label] if isinstance(label, int) else list(label)
        logits = pred.detach().float().reshape(-1)
        top = torch.topk(logits, max(self.topk, LOGGED_PREDICTIONS))
        is_correct = any(int(i) in labels for i in top.indices[: self.topk])
        stacked = logits.unsqueeze(0).expand(len(labels), -1)
        loss = torch.nn.functional.cross_entropy(stacked, torch.tensor(labels)).item()
        probabilities = torch.softmax(logits, dim=0)[top.indices[:LOGGED_PREDICTIONS]]
        return {
            "is_correct": bool(is_correct),
            "loss": float(loss),
            "prediction": top.indices[:LOGGED_PREDICTIONS].to(torch.int32).numpy(),
            "confidence": probabilities.to(torch.float32).numpy(),
        }


Evaluator = SimpleClassificationEvaluator
