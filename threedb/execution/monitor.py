"""Resident memory of the run's processes over time, written to ``resources.jsonl``.

One JSON line per sample: seconds since the start, the role (``driver``, ``worker-N``,
``logger-N``), the process id, the resident set size in MiB and the results so far. Local
processes are read from ``/proc`` (Linux only). A Ray worker reports its own size with each
result, so its rows carry the value of its latest result and its ``host``. A last sample is
written when the run ends.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, Iterable, List, Tuple

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

    def maybe_sample(self, processes: Iterable[Tuple[str, int | None]], results: int,
                     reported: Iterable[Tuple[str, Dict[str, Any]]] = (), force: bool = False) -> None:
        """Write a sample if ``SAMPLE_EVERY_S`` have passed since the last one, or if ``force``.

        ``processes`` are ``(role, pid)`` of local processes. ``reported`` are ``(role, memory)``
        of remote workers, ``memory`` being what the worker reported: ``pid``, ``host``, ``rss_mib``.
        """
        if not self.enabled or (time.monotonic() < self.next_sample and not force):
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
        for role, memory in reported:
            rows.append({"t": elapsed, "role": role, "pid": memory["pid"], "rss_mib": round(memory["rss_mib"], 1),
                         "results": results, "host": memory["host"]})
        with open(self.path, "a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")


def process_ids(workers: Iterable[Any], loggers: Any) -> List[Tuple[str, int | None]]:
    """Return ``(role, pid)`` for local workers and logger processes."""
    found: List[Tuple[str, int | None]] = []
    for worker in workers:
        process = getattr(worker, "process", None)
        if process is not None:
            found.append((f"worker-{worker.index}", process.pid))
    if loggers is not None:
        for index, process in enumerate(loggers.processes):
            found.append((f"logger-{index}", process.pid))
    return found


def reported_memory(workers: Iterable[Any]) -> List[Tuple[str, Dict[str, Any]]]:
    """Return ``(role, memory)`` for workers that report their own memory (Ray actors)."""
    return [(f"worker-{worker.index}", worker.memory) for worker in workers if getattr(worker, "memory", None)]
