"""Jobs: one render of one (environment, model) pair with one set of control parameters."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict


@dataclass
class Job:
    """A unit of work. ``id`` is deterministic from the run's seed, the pair, the policy's
    point index and the parameters, so a resumed run finds the same ids."""

    id: str
    environment: str
    model: str
    params: Dict[str, Any]
    seed: int
    attempts: int = 0
    slot: int | None = None
    isolate: bool = False
    extra: Dict[str, Any] = field(default_factory=dict)

    def message(self) -> Dict[str, Any]:
        """Return what a worker needs, as a plain picklable dict."""
        message = {"id": self.id, "environment": self.environment, "model": self.model,
                   "params": self.params, "seed": self.seed, "slot": self.slot}
        if self.isolate:
            # A worker died while this job and another were under way: run it alone.
            message["isolate"] = True
        return message


def job_id(run_seed: int, environment: str, model: str, point_index: int, params: Dict[str, Any]) -> str:
    """Return a 16-hex-digit id from the job's identity."""
    payload = json.dumps([run_seed, environment, model, point_index, params], sort_keys=True, default=str)
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()[:16]


def pair_seed(run_seed: int, environment: str, model: str) -> int:
    """Return a seed for the policy of one (environment, model) pair, stable across runs."""
    digest = hashlib.sha1(f"{run_seed}|{environment}|{model}".encode("utf-8")).hexdigest()
    return int(digest[:8], 16)
