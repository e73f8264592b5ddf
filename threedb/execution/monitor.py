"""Resident memory of the run's processes over time, written to ``resources.jsonl``.

One JSON line per sample: seconds since the start, the role (``driver``, ``worker-N``,
``logger-N``), the process id, the resident set size in MiB and the results so far. Linux
only (reads ``/proc``); elsewhere nothing is written.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Iterable, List, Tuple

SAMPLE_EVERY_S = 10.0


def rss_mib(pid: int) -> float | None:
    """Return the resident set size of ``pid`` in MiB, or None if it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        return None
    return None


class ResourceMonitor:
    """Samples the RSS of the driver, workers and loggers every ``SAMPLE_EVERY_S`` seconds."""

    def __init__(self, output_dir: str) -> None:
        self.path = os.path.join(output_dir, "resources.jsonl")
        self.started = time.monotonic()
        self.next_sample = self.started
        self.enabled = os.path.isdir("/proc/self")

    def maybe_sample(self, processes: Iterable[Tuple[str, int | None]], results: int) -> None:
        if not self.enabled or time.monotonic() < self.next_sample:
            return
        self.next_sample = time.monotonic() + SAMPLE_EVERY_S
        rows: List[dict] = []
        elapsed = round(time.monotonic() - self.started, 1)
        for role, pid in [("driver", os.getpid()), *processes]:
            if pid is None:
                continue
            rss = rss_mib(pid)
            if rss is not None:
                rows.append({"t": elapsed, "role": role, "pid": pid, "rss_mib": round(rss, 1), "results": results})
        with open(self.path, "a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")


def process_ids(workers: Iterable[Any], loggers: Any) -> List[Tuple[str, int | None]]:
    """Return ``(role, pid)`` for local workers and logger processes."""
    found: List[Tuple[str, int | None]] = []
    for worker in workers:
        process = getattr(worker, "process", None)
        found.append((f"worker-{worker.index}", getattr(process, "pid", None)))
    if loggers is not None:
        for index, process in enumerate(loggers.processes):
            found.append((f"logger-{index}", process.pid))
    return found
