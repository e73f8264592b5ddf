"""The evaluator interface: turn a model output and the object's label into logged numbers.

An evaluator module exports ``Evaluator``. ``declare_outputs`` names the small channels it
writes into the result buffer (``{name: (shape, dtype)}``); ``summary_stats`` returns their
values for one prediction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, List, Tuple, Union

LabelType = Union[int, List[int]]


class BaseEvaluator(ABC):
    """Scores one prediction."""

    output_type = "generic"

    @abstractmethod
    def declare_outputs(self) -> Dict[str, Tuple[List[int], str]]:
        """Return the channels ``summary_stats`` produces."""

    @abstractmethod
    def get_target(self, model_uid: str, render_output: Dict[str, Any] | None = None) -> LabelType:
        """Return the label of the model ``model_uid``."""

    @abstractmethod
    def summary_stats(self, pred: Any, label: LabelType) -> Dict[str, Any]:
        """Return the declared channels' values for one prediction."""

    def get_segmentation_label(self, model_uid: str) -> int:
        """Return the value that marks the object's pixels in segmentation maps."""
        return 1
