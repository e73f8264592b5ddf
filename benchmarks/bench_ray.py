"""Benchmark the Ray backend against local worker processes, with the same worker count.

Two measurements:

1. Whole runs: ``threedb run`` of examples/quickstart.yaml at 64 px (192 renders, 16 samples)
   with 2 workers and 1 Cycles thread each. They run locally, and on a Ray cluster started on
   this machine: a head node and a worker node with 1 CPU each, on 127.0.0.1. Runs go in the order
   local, ray, ray, local, so that a drift in machine load hits both backends alike. Renders
   per second are the run summary's (renders over the run's wall time, worker start included).
   On a shared machine the wall time depends on other processes, so each run also reports its
   CPU time per render. It counts ``threedb run`` and its child processes. For Ray runs it
   adds what every process of the cluster used meanwhile: actors, raylets, GCS and agents.
2. The cost of the Ray path per result: an actor returns results shaped as a real one (the
   ``rgb`` array plus small values) and the driver copies each into a shared-memory buffer
   slot, as LocalRun does. Reported: the round trip of one call at a time, and the driver's
   CPU time per result with as many calls in flight as the scheduler keeps (MAX_IN_FLIGHT).

Run: ``python benchmarks/bench_ray.py [--repeats R]``. Needs ``pip install "threedb[ray]"``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTER_SCRIPT = os.path.join(REPO_DIR, "tests", "ray_cluster.py")
SUMMARY = re.compile(r"\((\d+) renders, (\d+) failed, ([\d.]+) s, ([\d.]+) renders/s\)")
ROUND_TRIPS = 300


def loopback_ray_env(ray_tmp: str) -> Dict[str, str]:
    """Return an environment that keeps Ray on 127.0.0.1 with its files under ``ray_tmp``."""
    return {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_TMPDIR": ray_tmp}


def children_cpu_s() -> float:
    """Return the CPU seconds of this process's finished and reaped child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class ClusterCpuMeter:
    """Measures the CPU seconds that the processes of a Ray cluster use: ``root_pid`` (the
    ``ray_cluster.py`` process) and its descendants, which include the actors.

    The raylet does not account for the CPU time of its ended workers, so a thread samples every
    process of the cluster every ``interval`` seconds and keeps its last reading. An actor that
    ends is missing at most its last ``interval`` seconds.
    """

    def __init__(self, root_pid: int, interval: float = 0.25) -> None:
        self.root_pid = root_pid
        self.interval = interval
        self.baseline: Dict[Any, float] = {}
        self.latest: Dict[Any, float] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def _read(self) -> Dict[Any, float]:
        import psutil  # noqa: PLC0415

        readings: Dict[Any, float] = {}
        root = psutil.Process(self.root_pid)
        try:
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            processes = [root]
        for process in processes:
            try:
                times = process.cpu_times()
                readings[(process.pid, process.create_time())] = times.user + times.system
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return readings

    def _sample_until_stopped(self) -> None:
        while not self.stopped.wait(self.interval):
            self.latest.update(self._read())

    def start(self) -> None:
        self.baseline = self._read()
        self.latest = dict(self.baseline)
        self.thread.start()

    def stop(self) -> float:
        """Stop sampling; return the CPU seconds used since :meth:`start`."""
        self.stopped.set()
        self.thread.join()
        self.latest.update(self._read())
        return sum(self.latest.values()) - sum(self.baseline.values())


def run_threedb(config: str, output: str, env: Dict[str, str], ray_address: str | None,
                cluster_pid: int) -> Dict[str, float]:
    command = [sys.executable, "-m", "threedb", "run", config, "--output", output, "--workers", "2",
               "--threads", "1", "--no-progress", "--seed", "0"]
    if ray_address:
        command += ["--ray", ray_address, "--worker-cpus", "1"]
    meter = ClusterCpuMeter(cluster_pid) if ray_address else None
    if meter is not None:
        meter.start()
    cpu_before = children_cpu_s()
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.monotonic() - started
    cpu = children_cpu_s() - cpu_before + (meter.stop() if meter is not None else 0.0)
    match = SUMMARY.search(result.stdout)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"threedb run failed ({result.returncode}):\n{result.stderr[-3000:]}")
    renders, _, wall, rate = match.groups()
    return {"renders": int(renders), "run_s": float(wall), "renders_per_s": float(rate), "command_s": elapsed,
            "cpu_ms_per_render": cpu / int(renders) * 1000}


def measure_result_path(address: str, resolution: int) -> Dict[str, float]:
    """Return the round trip (ms) and the driver's CPU time (ms) per result of ``resolution`` px."""
    import numpy as np  # noqa: PLC0415
    import ray  # noqa: PLC0415

    from threedb.execution.local import MAX_IN_FLIGHT  # noqa: PLC0415
    from threedb.result_logging.buffer import BigChungusCyclicBuffer  # noqa: PLC0415

    @ray.remote(num_cpus=1)
    class ResultSource:
        """Returns results shaped as RenderActor.compute's, without rendering."""

        def __init__(self, resolution: int) -> None:
            self.rgb = np.random.default_rng(0).random((3, resolution, resolution), dtype=np.float32)

        def compute(self) -> Any:
            values = {"is_correct": False, "loss": 1.5, "prediction": [1, 2, 3, 4, 5],
                      "confidence": [0.5, 0.2, 0.1, 0.1, 0.1], "target": [97]}
            arrays = {"rgb": self.rgb, "is_correct": False, "loss": 1.5,
                      "prediction": np.arange(5, dtype=np.int32), "confidence": np.full(5, 0.2, dtype=np.float32)}
            return "done", {**values, "_channels": arrays}

    channels = {"rgb": ([3, resolution, resolution], "float32"), "is_correct": ([], "bool"), "loss": ([], "float32"),
                "prediction": ([5], "int32"), "confidence": ([5], "float32")}
    buffer = BigChungusCyclicBuffer(channels, size=8, max_consumers=2)
    source = ResultSource.remote(resolution)
    ray.get(source.compute.remote())

    def take(ref: Any) -> None:
        _, values = ray.get(ref)
        slot = buffer.try_reserve()
        buffer.write(slot, values.pop("_channels"))
        buffer.release(slot)

    started = time.perf_counter()
    for _ in range(ROUND_TRIPS):
        ref = source.compute.remote()
        ray.wait([ref], num_returns=1)
        take(ref)
    round_trip_ms = (time.perf_counter() - started) / ROUND_TRIPS * 1000

    cpu_started = time.process_time()
    in_flight = [source.compute.remote() for _ in range(MAX_IN_FLIGHT)]
    for _ in range(ROUND_TRIPS):
        ready, in_flight = ray.wait(in_flight, num_returns=1)
        take(ready[0])
        in_flight.append(source.compute.remote())
    ray.get(in_flight)
    driver_cpu_ms = (time.process_time() - cpu_started) / ROUND_TRIPS * 1000
    ray.kill(source)
    buffer.close()
    return {"round_trip_ms": round_trip_ms, "driver_cpu_ms": driver_cpu_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs per backend (default: 2)")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="tdb-bench-ray-")
    ray_tmp = os.path.join(work, "ray")
    os.makedirs(ray_tmp)
    env = loopback_ray_env(ray_tmp)
    os.environ.update({k: v for k, v in env.items() if k.startswith("RAY_")})
    config = os.path.join(work, "quickstart64.yaml")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(f"base_config: {os.path.join(REPO_DIR, 'examples', 'quickstart.yaml')}\n"
                     f"render_args:\n  resolution: 64\n")

    print(f"{time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    cluster = subprocess.Popen([sys.executable, CLUSTER_SCRIPT, "1", "1"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=env)
    try:
        address = json.loads(cluster.stdout.readline())["address"]
        runs: Dict[str, List[Dict[str, float]]] = {"local": [], "ray": []}
        order = (["local", "ray", "ray", "local"] * args.repeats)[: 2 * args.repeats]
        for number, backend in enumerate(order):
            output = os.path.join(work, f"out{number}")
            load_before = os.getloadavg()[0]
            result = run_threedb(config, output, env, address if backend == "ray" else None, cluster.pid)
            runs[backend].append(result)
            # The 1-minute load average includes this run's own 2 workers; above ~3 on 2 cores,
            # other processes competed for the CPUs.
            print(f"{backend:5s} run {number}: {result['renders']} renders, {result['run_s']:.1f} s, "
                  f"{result['renders_per_s']:.2f} renders/s, {result['cpu_ms_per_render']:.0f} CPU ms per render "
                  f"(command {result['command_s']:.1f} s; load average {load_before:.1f} before, "
                  f"{os.getloadavg()[0]:.1f} after)", flush=True)
        for backend, results in runs.items():
            print(f"{backend:5s} mean: {statistics.mean(r['renders_per_s'] for r in results):.2f} renders/s, "
                  f"{statistics.mean(r['run_s'] for r in results):.1f} s per run, "
                  f"{statistics.mean(r['cpu_ms_per_render'] for r in results):.0f} CPU ms per render")

        import ray  # noqa: PLC0415

        ray.init(address=address, logging_level="WARNING", log_to_driver=False)
        for resolution in (64, 224):
            cost = measure_result_path(address, resolution)
            print(f"Ray result path at {resolution} px: round trip {cost['round_trip_ms']:.2f} ms, "
                  f"driver CPU {cost['driver_cpu_ms']:.2f} ms per result")
        ray.shutdown()
    finally:
        cluster.stdin.close()
        cluster.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
