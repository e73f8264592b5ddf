"""Random search: ``samples`` points drawn uniformly from the unit cube and the discrete choices."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from threedb.policies.base_policy import BasePolicy, Point, RenderFunction, chunks


class RandomSearchPolicy(BasePolicy):
    """Draw ``samples`` points with a generator seeded by ``seed`` (the run's seed mixed with the
    environment and model, unless the config sets ``seed``)."""

    def __init__(self, continuous_dim: int, discrete_sizes: Sequence[int], samples: int,
                 seed: int = 0, batch_size: int = 1000) -> None:
        super().__init__(continuous_dim, discrete_sizes, seed)
        self.samples = samples
        self.batch_size = batch_size

    @staticmethod
    def validate_args(args: Dict[str, Any]) -> List[Tuple[str, str, Any]]:
        problems = []
        value = args.get("samples")
        # A missing value is reported by the signature check as a missing argument.
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            problems.append(("samples", "must be an integer >= 1", value))
        seed = args.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            problems.append(("seed", "must be a non-negative integer", seed))
        batch = args.get("batch_size", 1000)
        if not isinstance(batch, int) or batch < 1:
            problems.append(("batch_size", "must be an integer >= 1", batch))
        return problems

    def points(self) -> List[Point]:
        generator = np.random.default_rng(self.seed)
        continuous = generator.random((self.samples, self.continuous_dim))
        discrete = np.stack([generator.integers(0, n, self.samples) for n in self.discrete_sizes], axis=1) \
            if self.discrete_sizes else np.zeros((self.samples, 0), dtype=int)
        return [(tuple(float(x) for x in c), tuple(int(x) for x in d)) for c, d in zip(continuous, discrete)]

    def hint_scheduler(self) -> Tuple[int, int]:
        return -(-self.samples // self.batch_size), self.samples

    def run(self, render: RenderFunction) -> None:
        for batch in chunks(self.points(), self.batch_size):
            render(batch)


Policy = RandomSearchPolicy
