"""The policy interface: a policy chooses points of the search space and sees their results.

A policy module exports ``Policy``, constructed as
``Policy(continuous_dim, discrete_sizes, seed=..., **args_from_config)``. Its ``run(render)``
calls ``render(batch)`` with a list of ``(continuous, discrete)`` points, where ``continuous``
is a tuple in [0, 1]^continuous_dim and ``discrete`` a tuple of choice indices.
``render`` blocks until the batch is done and returns one result dict per point
(``is_correct``, ``loss``, ... as the evaluator defines, or ``{"status": "failed"}``),
so adaptive policies can steer by results.
``hint_scheduler()`` returns ``(number of batches, total number of points)`` when known.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Dict, List, Sequence, Tuple

Point = Tuple[Tuple[float, ...], Tuple[int, ...]]
RenderFunction = Callable[[List[Point]], List[Dict[str, Any]]]


class BasePolicy(ABC):
    """A search policy over the unit cube and discrete choices."""

    def __init__(self, continuous_dim: int, discrete_sizes: Sequence[int], seed: int = 0) -> None:
        self.continuous_dim = continuous_dim
        self.discrete_sizes = list(discrete_sizes)
        self.seed = seed

    @abstractmethod
    def hint_scheduler(self) -> Tuple[int, int]:
        """Return ``(number of batches, total number of points)``."""

    @abstractmethod
    def run(self, render: RenderFunction) -> None:
        """Ask for renders until the policy is done."""


def chunks(items: List[Any], size: int) -> List[List[Any]]:
    """Split ``items`` into consecutive lists of at most ``size`` items."""
    return [items[i:i + size] for i in range(0, len(items), size)]
