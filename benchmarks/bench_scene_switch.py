"""Benchmark scene switches: what one costs in a worker, and how many the scheduler makes.

1. Cost: a ``BlenderRenderer`` in this process loads (environment, model) pairs with
   ``setup_render``, changing the environment only, the model only, or both, and renders
   twice after each load. A switch costs the ``setup_render`` time plus the extra time of
   the first render after it (Cycles rebuilds its scene data: BVH, textures) over the
   second. Renders are 64 px with 4 samples: the rebuild does not depend on resolution.
   When only the model changes, ``setup_render`` keeps the scene and swaps the model. The
   row "model, full reload" forces the full reset that every switch paid before.
2. Count: the real scheduler (``LocalRun``, with the real buffer and JSON logger) hands
   about 1,000 jobs over 4 environments x 4 models to 2 workers. The workers are fake
   (threads that sleep 2 ms per job and 10 ms per scene switch instead of rendering), so
   only the scheduler's choices are measured. The same run with a scheduler that ignores
   which scene a worker has loaded (it takes the next pair with pending jobs in turn, as
   FIFO order would when policies submit small interleaved batches) gives the baseline, and
   threedb's earlier rule (keep the loaded pair, else the pair with the most pending jobs,
   whatever its environment) shows what preferring the loaded environment adds.
   Both run with policies submitting each pair's points at once (``batch_size`` 1000) and
   in batches of 8 that wait for their results, as adaptive policies do.

Run: ``python benchmarks/bench_scene_switch.py [--quick]``
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import machine_line, make_data_dir, print_table, write_yaml  # noqa: E402
from bench_overhead import experiment_config  # noqa: E402

from threedb.config import build_experiment, load_config  # noqa: E402
from threedb.execution.local import LocalRun  # noqa: E402
from threedb.execution.pool import Message, WorkerHandle, WorkerPool  # noqa: E402
from threedb.rendering.demo_data import ensure_demo_data  # noqa: E402

ENVIRONMENTS = ["city.exr", "forest.exr", "studio.exr", "sunset.exr"]
MODELS = ["bicycle.blend", "teddy.blend", "mug.blend", "soccer_ball.blend"]
FAKE_RENDER_S = 0.002
FAKE_SWITCH_S = 0.010
JOBS_PER_PAIR = 63  # 16 pairs x 63 = 1,008 jobs


# -- 1. the cost of a switch --------------------------------------------------------------------

def time_switches(data: str, rounds: int) -> List[List[str]]:
    """Return table rows: setup_render time, first and second render after each kind of switch."""
    from threedb.rendering.render_blender import BlenderRenderer  # noqa: PLC0415 - imports bpy

    renderer = BlenderRenderer(data, {"resolution": [64, 64], "samples": 4, "threads": os.cpu_count() or 1})
    renderer.setup_render(MODELS[0], ENVIRONMENTS[0])
    renderer.render("warm-up")  # Cycles' one-time device set-up is not part of any switch
    sequence: List[Tuple[str, str, str]] = []
    for round_index in range(rounds):
        env_a, env_b = ENVIRONMENTS[round_index % 2], ENVIRONMENTS[2 + round_index % 2]
        model_a, model_b = MODELS[round_index % 2], MODELS[2 + round_index % 2]
        sequence += [("environment", env_b, model_a), ("model, swapped in place", env_b, model_b),
                     ("model, full reload", env_b, model_a), ("both", env_a, model_a),
                     ("same pair, model swapped again", env_a, model_a)]
    renderer.setup_render(sequence[-1][2], sequence[-1][1])

    measured: Dict[str, Dict[str, List[float]]] = {}
    for kind, env, model in sequence:
        if kind == "model, full reload":
            renderer.loaded = None  # forget the loaded pair: setup_render resets Blender
        started = time.perf_counter()
        renderer.setup_render(model, env)
        setup = time.perf_counter() - started
        renders = []
        for _ in range(2):
            started = time.perf_counter()
            renderer.render(model)
            renders.append(time.perf_counter() - started)
        entry = measured.setdefault(kind, {"setup": [], "first": [], "second": []})
        entry["setup"].append(setup)
        entry["first"].append(renders[0])
        entry["second"].append(renders[1])

    rows = []
    for kind, entry in measured.items():
        setup, first, second = (statistics.median(entry[k]) for k in ("setup", "first", "second"))
        rows.append([kind, f"{1000 * setup:.0f}", f"{1000 * first:.0f}", f"{1000 * second:.0f}",
                     f"{1000 * (setup + first - second):.0f}"])
    return rows


# -- 2. the number of switches --------------------------------------------------------------------

@dataclass
class FakeWorkerHandle(WorkerHandle):
    """A worker thread that sleeps instead of rendering and reports results like a real worker."""

    tasks: Any = None
    thread: Any = None
    loads: int = 0
    environment_loads: int = 0

    def submit(self, job: Dict[str, Any]) -> None:
        self.tasks.put(job)

    def is_alive(self) -> bool:
        return bool(self.thread.is_alive())

    def stop(self, timeout: float) -> None:
        self.tasks.put(None)
        self.thread.join(timeout)

    def kill(self) -> None:
        self.tasks.put(None)


class FakeWorkerPool(WorkerPool):
    """Fake render workers for ``LocalRun(pool_factory=...)``: same messages, no Blender."""

    handles: List[FakeWorkerHandle] = []

    def __init__(self, experiment: Any, buffer: Any, threads: int, seed: int, log_level: int) -> None:
        self.results: "queue.Queue[Message]" = queue.Queue()
        FakeWorkerPool.handles = []

    def start_worker(self, index: int) -> WorkerHandle:
        handle = FakeWorkerHandle(index=index, tasks=queue.Queue())
        handle.thread = threading.Thread(target=self._serve, args=(handle,), daemon=True, name=f"fake-worker-{index}")
        handle.thread.start()
        FakeWorkerPool.handles.append(handle)
        return handle

    def _serve(self, handle: FakeWorkerHandle) -> None:
        self.results.put(("ready", handle.index, None, "fake"))
        loaded = None
        while True:
            job = handle.tasks.get()
            if job is None:
                return
            pair = (job["environment"], job["model"])
            if pair != loaded:
                time.sleep(FAKE_SWITCH_S)
                handle.loads += 1
                if loaded is None or loaded[0] != pair[0]:
                    handle.environment_loads += 1
                loaded = pair
            time.sleep(FAKE_RENDER_S)
            self.results.put(("done", handle.index, job["id"],
                              {"is_correct": False, "loss": 0.0, "prediction": [0] * 5, "confidence": [0.0] * 5,
                               "target": 0}))

    def poll(self, timeout: float) -> List[Message]:
        messages: List[Message] = []
        try:
            messages.append(self.results.get(timeout=timeout) if timeout > 0 else self.results.get_nowait())
        except queue.Empty:
            return messages
        while True:
            try:
                messages.append(self.results.get_nowait())
            except queue.Empty:
                return messages


class RoundRobinRun(LocalRun):
    """The baseline: a scheduler that ignores loaded scenes and serves pairs in turn."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.turn = 0

    def _choose(self, worker: WorkerHandle) -> Any:
        pairs = [pair for pair, jobs in self.pending.items() if jobs]
        if not pairs:
            return None
        self.turn = (self.turn + 1) % len(pairs)
        return self.pending[pairs[self.turn]].popleft()


class MaxPendingRun(LocalRun):
    """threedb's earlier rule: keep the loaded pair, else take the pair with the most pending
    jobs that no other worker is on, whatever its environment."""

    @staticmethod
    def _preference(worker: WorkerHandle, pair: Tuple[str, str], pending: int) -> int:
        return pending


def count_switches(work: str, data: str, run_class: type, batch_size: int, jobs_per_pair: int) -> Dict[str, Any]:
    """Run the fake experiment once; return jobs, switches counted by the scheduler and by the workers."""
    config = experiment_config(64, 2, "efficientnet")
    config["policy"] = {"module": "threedb.policies.random_search", "samples": jobs_per_pair,
                        "batch_size": batch_size}
    config["logging"] = {"logger_modules": ["threedb.result_logging.json_logger"]}
    name = f"{run_class.__name__}-{batch_size}"
    experiment = build_experiment(load_config(write_yaml(os.path.join(work, name + ".yaml"), config)), data)
    run = run_class(experiment, os.path.join(work, name), workers=2, seed=0, progress=False,
                    log_level=logging.WARNING, pool_factory=FakeWorkerPool)
    os.makedirs(os.path.join(work, name))
    started = time.monotonic()
    summary = run.execute()
    loads = sum(handle.loads for handle in FakeWorkerPool.handles)
    environment_loads = sum(handle.environment_loads for handle in FakeWorkerPool.handles)
    jobs = len(summary.records)
    return {"jobs": jobs, "switches": summary.scene_switches, "loads": loads, "environment_loads": environment_loads,
            "seconds": time.monotonic() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer switches timed and about 250 jobs per count")
    args = parser.parse_args()
    rounds, jobs_per_pair = (1, 16) if args.quick else (3, JOBS_PER_PAIR)

    work = tempfile.mkdtemp(prefix="threedb-bench-switch-")
    data = make_data_dir(work, ensure_demo_data(), MODELS, ENVIRONMENTS)
    print(f"# Scene switches: {machine_line()}", flush=True)
    try:
        cost_rows = time_switches(data, rounds)
        count_rows = []
        for batch_size in (1000, 8):
            for run_class, label in ((LocalRun, "threedb (loaded pair, then loaded environment)"),
                                     (MaxPendingRun, "earlier threedb (loaded pair, then most pending)"),
                                     (RoundRobinRun, "baseline (pairs in turn)")):
                counted = count_switches(work, data, run_class, batch_size, jobs_per_pair)
                per_thousand = 1000 * counted["loads"] / counted["jobs"]
                environments_per_thousand = 1000 * counted["environment_loads"] / counted["jobs"]
                count_rows.append([label, batch_size, counted["jobs"], counted["switches"], counted["loads"],
                                   f"{per_thousand:.1f}", f"{environments_per_thousand:.1f}"])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("\nCost of a switch (64 px, 4 samples; medians, ms):\n")
    print_table(["switch", "setup_render", "first render after", "second render", "switch cost"], cost_rows)
    print(f"\nSwitches with {len(ENVIRONMENTS)} environments x {len(MODELS)} models, 2 fake workers "
          f"({1000 * FAKE_RENDER_S:.0f} ms per job, {1000 * FAKE_SWITCH_S:.0f} ms per switch). The first "
          "load of each worker counts as a switch.\n")
    print_table(["scheduler", "policy batch size", "jobs", "switches (scheduler's count)",
                 "scene loads (workers' count)", "loads per 1,000 jobs", "environment changes per 1,000 jobs"],
                count_rows)


if __name__ == "__main__":
    main()
