"""Benchmark memory: peak RSS of the driver, each worker and each logger over a long run.

``threedb run`` renders 10,000 results (2 environments x 2 models x a 2,500-point grid over
``rotation_z``) at 16 px with 1 sample, with 2 workers, EfficientNet-Lite0 on 32 px inputs
and the JSON and image loggers. A sampler reads every process's ``VmHWM`` (peak resident
set size) and the PSS summed over the run's processes (shared memory counted once) every
0.2 s. The run's own ``resources.jsonl`` (RSS every 10 s with the results so far) shows
whether the driver grows with the number of results.

The result buffer is sized from the config by ``buffer_size_for`` (workers and loggers);
the table shows its slots and bytes.

Run: ``python benchmarks/bench_memory.py [--quick] [--results N]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import MIB, LoadMeter, ProcessSampler, machine_line, make_data_dir, print_table, write_yaml  # noqa: E402
from bench_overhead import experiment_config  # noqa: E402

from threedb.rendering.demo_data import ensure_demo_data  # noqa: E402
from threedb.result_logging.buffer import buffer_size_for  # noqa: E402

ENVIRONMENTS = ["studio.exr", "forest.exr"]
MODELS = ["mug.blend", "teddy.blend"]
RESOLUTION = 16
WORKERS = 2


def memory_config(results: int) -> Dict[str, Any]:
    config = experiment_config(RESOLUTION, 4, "efficientnet")
    config["inference"]["resolution"] = [32, 32]
    config["render_args"]["samples"] = 1
    config["policy"] = {"module": "threedb.policies.grid_search",
                        "samples_per_dim": results // (len(ENVIRONMENTS) * len(MODELS))}
    config["controls"] = [{"module": "threedb.controls.blender.orientation", "rotation_x": 0.0, "rotation_y": 0.0,
                           "rotation_z": [-3.14, 3.14]}]
    return config


def driver_growth(resources_path: str) -> str:
    """Return the driver's RSS growth per 1,000 results between the first and last samples after
    1,000 results, from the run's resources.jsonl."""
    rows = []
    with open(resources_path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["role"] == "driver" and row["results"] >= 1000:
                rows.append(row)
    if len(rows) < 2 or rows[-1]["results"] == rows[0]["results"]:
        return "too few samples"
    growth = (rows[-1]["rss_mib"] - rows[0]["rss_mib"]) / (rows[-1]["results"] - rows[0]["results"]) * 1000
    return (f"{growth:+.2f} MiB per 1,000 results ({rows[0]['rss_mib']:.0f} MiB at {rows[0]['results']} results, "
            f"{rows[-1]['rss_mib']:.0f} MiB at {rows[-1]['results']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 results instead of 10,000")
    parser.add_argument("--results", type=int, default=0, metavar="N", help="results to render (multiple of 4)")
    parser.add_argument("--keep", action="store_true", help="keep the run's output folder")
    args = parser.parse_args()
    results = args.results or (2000 if args.quick else 10000)

    work = tempfile.mkdtemp(prefix="threedb-bench-memory-")
    data = make_data_dir(work, ensure_demo_data(), MODELS, ENVIRONMENTS)
    config = write_yaml(os.path.join(work, "memory.yaml"), memory_config(results))
    output = os.path.join(work, "out")
    print(f"# Memory of a {results:,}-result run: {machine_line()}", flush=True)

    command = [sys.executable, "-m", "threedb", "run", config, "--data", data, "--output", output,
               "--workers", str(WORKERS), "--no-progress"]
    load = LoadMeter().start()
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = ProcessSampler(process.pid, interval_s=0.2).start()
    stdout, stderr = process.communicate()
    sampler.stop()
    wall = time.monotonic() - started
    load.stop()
    if process.returncode != 0:
        raise SystemExit(f"threedb run failed (exit code {process.returncode}):\n{stderr[-4000:]}")

    with open(os.path.join(output, "details.log"), encoding="utf-8") as handle:
        logged = sum(1 for _ in handle)
    loggers = len(memory_config(results)["logging"]["logger_modules"])
    slots = buffer_size_for(WORKERS, loggers)
    slot_bytes = 3 * RESOLUTION * RESOLUTION * 4 + 4 + 4 + 5 * 4 * 2  # rgb, is_correct, loss, top-5 pairs
    peaks = sampler.peaks_by_role()
    rows: List[List[str]] = []
    for role in ("driver", "worker", "logger", "helper"):
        for position, peak in enumerate(peaks.get(role, [])):
            rows.append([f"{role} {position + 1}" if len(peaks[role]) > 1 else role, f"{peak / 1024:.0f}"])
    growth = driver_growth(os.path.join(output, "resources.jsonl"))
    if args.keep:
        print(f"output kept in {output}")
    else:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{logged:,} results logged in {wall:.0f} s ({logged / wall:.1f} results/s); other processes used "
          f"{load.other_cores:.2f} cores on average.\n")
    print_table(["process", "peak RSS (MiB)"], rows)
    print(f"\nPeak PSS of all the run's processes together: {sampler.peak_pss_total_kib / 1024:.0f} MiB.")
    print(f"Result buffer: {slots} slots from buffer_size_for({WORKERS} workers, {loggers} loggers), "
          f"{slots * slot_bytes / MIB:.2f} MiB of shared memory at {RESOLUTION} px "
          f"({slots * 3 * 224 * 224 * 4 / MIB:.1f} MiB at 224 px).")
    print(f"Driver RSS growth after the first 1,000 results: {growth}.")


if __name__ == "__main__":
    main()
