"""Grid search: every combination of ``samples_per_dim`` evenly spaced values per continuous
parameter (ends included) and every choice of each discrete parameter."""

from __future__ import annotations

from itertools import product
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from threedb.policies.base_policy import BasePolicy, Point, RenderFunction, chunks


class GridSearchPolicy(BasePolicy):
    """Render the full grid, in batches of ``batch_size`` points."""

    def __init__(self, continuous_dim: int, discrete_sizes: Sequence[int], samples_per_dim: int | None = None,
                 seed: int = 0, batch_size: int = 1000, samples: int | None = None) -> None:
        super().__init__(continuous_dim, discrete_sizes, seed)
        # Some 3DB configs name the grid size ``samples``; both spellings mean values per dimension.
        self.samples_per_dim = int(samples_per_dim if samples_per_dim is not None else samples)  # type: ignore[arg-type]
        self.batch_size = batch_size

    @staticmethod
    def validate_args(args: Dict[str, Any]) -> List[Tuple[str, str, Any]]:
        problems = []
        if "samples_per_dim" in args and "samples" in args:
            problems.append(("samples", "give either samples_per_dim or samples (its 3DB name), not both",
                             args["samples"]))
        key = "samples_per_dim" if "samples_per_dim" in args or "samples" not in args else "samples"
        value = args.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append((key, "must be an integer >= 1 (values per continuous parameter)", value))
        batch = args.get("batch_size", 1000)
        if not isinstance(batch, int) or batch < 1:
            problems.append(("batch_size", "must be an integer >= 1", batch))
        return problems

    def points(self) -> List[Point]:
        # One sample per dimension sits at the middle of the range, not at its start.
        if self.samples_per_dim == 1:
            values = np.array([0.5])
        else:
            values = np.linspace(0.0, 1.0, self.samples_per_dim)
        continuous_grid = product(*([tuple(float(v) for v in values)] * self.continuous_dim))
        discrete_grid = list(product(*(range(n) for n in self.discrete_sizes)))
        return [(tuple(c), tuple(d)) for c in continuous_grid for d in discrete_grid]

    def hint_scheduler(self) -> Tuple[int, int]:
        total = self.samples_per_dim ** self.continuous_dim * int(np.prod(self.discrete_sizes or [1]))
        return -(-total // self.batch_size), int(total)

    def run(self, render: RenderFunction) -> None:
        for batch in chunks(self.points(), self.batch_size):
            render(batch)


Policy = GridSearchPolicy
