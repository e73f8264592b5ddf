"""Benchmark threedb's own cost: ``threedb run`` against a plain bpy script doing the same renders.

For each resolution (224 and 256 px, 16 samples) and worker count (1 and 2):

(b) ``threedb run`` renders N jobs: one HDRI, two models, random orientation and camera
    as in examples/quickstart.yaml. It runs EfficientNet-Lite0, the JSON logger and the
    image logger, with ``--threads`` = cores / workers;
(a) ``plain_bpy_render.py`` renders exactly the jobs that (b) logged, read back from its
    details.log. It runs one process per worker with the same Cycles thread count, and
    each process takes whole (environment, model) pairs;
(c) ``threedb run`` again with a classifier that costs nothing (null_classifier.py), to
    split the gap between the classifier and the rest of the framework.

Images per second are counted two ways. Whole command: N divided by the wall time from
launch to exit (start-up, loading, rendering, shutdown). Steady state: the median, over
sliding windows of 2 x workers consecutive completions, of the window's rate. It begins
once every worker is ready (``threedb run -v`` logs when) and 2 x workers more images are
done, or, for the plain script, once every process has finished its first two images.
The first render of a scene pays for Cycles' set-up.
Completion times are the pixels-in-memory times that the plain script records and, for
threedb, the modification times of the PNG files that the image logger writes.

The machine may be shared, so each configuration runs (b) and (a) in the order b a a b b a,
and reports the median steady rate of each variant (and every run's), how many cores other
processes kept busy meanwhile, and the CPU seconds per steady-state image of every threedb
process (driver, workers, loggers) and of the plain processes. Read the CPU figures with
care: Blender keeps a second thread busy on any idle core, even with one render thread, so
its CPU time per image grows with idle time.

Run: ``python benchmarks/bench_overhead.py [--quick] [--renders N] [--repeats R]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (BENCHMARKS_DIR, REPO_DIR, LoadMeter, ProcessSampler, machine_line, make_data_dir,  # noqa: E402
                     print_table, write_yaml)

from threedb.rendering.demo_data import ensure_demo_data  # noqa: E402

ENVIRONMENTS = ["studio.exr"]
MODELS = ["mug.blend", "teddy.blend"]
SAMPLES = 16
TARGET_STEADY_RATIO = 0.90
WARMUP_IMAGES_PER_WORKER = 2
READY_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) INFO \S+: worker \d+ ready on", re.MULTILINE)


def experiment_config(resolution: int, renders: int, classifier: str) -> Dict[str, Any]:
    """Return the experiment: the quickstart's controls, random search, JSON and image loggers."""
    inference: Dict[str, Any] = {
        "module": "threedb.inference.efficientnet", "class": "EfficientNetLite0",
        "label_map": "imagenet_classes.json",
        "normalization": {"mean": [0.498, 0.498, 0.498], "std": [0.502, 0.502, 0.502]},
        "resolution": [224, 224],
    }
    if classifier == "null":
        inference.update({"module": "null_classifier", "class": "NullClassifier"})
    pairs = len(ENVIRONMENTS) * len(MODELS)
    return {
        "inference": inference,
        "evaluation": {"module": "threedb.evaluators.classification",
                       "args": {"classmap_path": "class_map.json", "topk": 1}},
        "render_args": {"engine": "threedb.rendering.render_blender", "resolution": resolution, "samples": SAMPLES},
        "policy": {"module": "threedb.policies.random_search", "samples": renders // pairs},
        "logging": {"logger_modules": ["threedb.result_logging.json_logger", "threedb.result_logging.image_logger"]},
        "controls": [
            {"module": "threedb.controls.blender.orientation", "rotation_x": [-0.4, 0.4],
             "rotation_y": [-0.4, 0.4], "rotation_z": [-3.14, 3.14]},
            {"module": "threedb.controls.blender.camera", "view_point_x": [-1, 1], "view_point_y": [-1, -0.3],
             "view_point_z": [0.1, 0.8], "zoom_factor": [0.8, 1.4], "aperture": 16, "focal_length": 50},
        ],
    }


def steady_rate(finished: Sequence[float], workers: int, start: float) -> float:
    """Return images per second in the steady state, which begins at time ``start``.

    The rate over every window of ``2 * workers`` consecutive completions from ``start`` on
    is computed, and the median window is returned, so that a burst of load from other
    processes on a shared machine moves it little.
    """
    times = [start] + sorted(t for t in finished if t > start)
    window = 2 * workers
    if len(times) <= window:
        raise ValueError(f"too few images ({len(finished)}) for a steady-state rate")
    rates = [window / max(times[i + window] - times[i], 1e-9) for i in range(len(times) - window)]
    return statistics.median(rates)


def workers_ready_at(stderr: str) -> float:
    """Return the wall-clock time at which the last worker reported ready, from ``threedb run -v``'s log."""
    ready = []
    for match in READY_LINE.finditer(stderr):
        seconds = time.mktime(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"))
        ready.append(seconds + int(match.group(2)) / 1000)
    if not ready:
        raise RuntimeError("threedb run -v logged no 'worker ... ready' line")
    return max(ready)


def run_threedb(work: str, data: str, resolution: int, renders: int, workers: int, threads: int,
                classifier: str, source: str, tag: str) -> Dict[str, Any]:
    """Run ``threedb run`` once with the threedb package in ``source``; return its jobs,
    completion times, wall time and CPU seconds per steady-state image (all its processes)."""
    name = f"threedb-{classifier}-{resolution}px-{workers}w-{tag}"
    config = write_yaml(os.path.join(work, name + ".yaml"), experiment_config(resolution, renders, classifier))
    output = os.path.join(work, name)
    command = [sys.executable, "-m", "threedb", "run", config, "--data", data, "--output", output,
               "--workers", str(workers), "--threads", str(threads), "--no-progress", "-v"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, BENCHMARKS_DIR, os.environ.get("PYTHONPATH", "")])}
    started = time.monotonic()
    launched = time.time()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                               cwd=source)
    sampler = ProcessSampler(process.pid, interval_s=0.1, read_pss=False).start()
    _, stderr = process.communicate()
    sampler.stop()
    wall = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(f"threedb run failed (exit code {process.returncode}):\n{stderr[-4000:]}")

    with open(os.path.join(output, "details.log"), encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle]
    images = os.path.join(output, "images")
    finished = sorted(os.stat(os.path.join(images, f"{line['id']}_rgb.png")).st_mtime for line in lines)
    jobs = [{"environment": line["environment"], "model": line["model"], "params": line["render_args"]}
            for line in lines]
    # The steady state begins once every worker is ready and has finished its first images:
    # a worker that starts late would otherwise add its start-up to the steady-state CPU.
    after_ready = [t for t in finished if t > workers_ready_at(stderr)]
    if len(after_ready) <= WARMUP_IMAGES_PER_WORKER * workers + 2 * workers:
        raise RuntimeError(f"too few images after every worker was ready ({len(after_ready)}); render more")
    start = after_ready[WARMUP_IMAGES_PER_WORKER * workers - 1]
    steady_images = sum(1 for t in finished if t > start)
    cpu_per_image = (sampler.cpu_at(finished[-1]) - sampler.cpu_at(start)) / steady_images
    by_role = {role: (sampler.cpu_at(finished[-1], role) - sampler.cpu_at(start, role)) / steady_images
               for role in ("driver", "worker", "logger")}
    return {"jobs": jobs, "finished": finished, "wall": wall, "cpu_per_image": cpu_per_image,
            "cpu_by_role": by_role, "first_image_s": finished[0] - launched, "steady_start": start}


def run_plain(work: str, data: str, resolution: int, jobs: List[Dict[str, Any]], workers: int,
              threads: int, tag: str) -> Dict[str, Any]:
    """Render ``jobs`` with ``workers`` plain bpy processes, each taking whole pairs; return times."""
    pairs = sorted({(job["environment"], job["model"]) for job in jobs})
    shares: List[List[Dict[str, Any]]] = [[] for _ in range(workers)]
    for position, pair in enumerate(pairs):
        shares[position % workers].extend(job for job in jobs if (job["environment"], job["model"]) == pair)

    processes = []
    started = time.monotonic()
    launched = time.time()
    for index, share in enumerate(shares):
        settings = {"data_dir": data, "resolution": resolution, "samples": SAMPLES, "threads": threads, "jobs": share}
        jobs_path = os.path.join(work, f"plain-{resolution}px-{workers}w-{tag}-{index}.json")
        with open(jobs_path, "w", encoding="utf-8") as handle:
            json.dump(settings, handle)
        times_path = jobs_path.replace(".json", "-times.json")
        command = [sys.executable, os.path.join(BENCHMARKS_DIR, "plain_bpy_render.py"), jobs_path, times_path]
        processes.append((subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True),
                          times_path))
    finished: List[float] = []
    warmed_up: List[float] = []
    steady_cpu = steady_images = 0.0
    for process, times_path in processes:
        _, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"plain_bpy_render.py failed (exit code {process.returncode}):\n{stderr[-4000:]}")
        with open(times_path, encoding="utf-8") as handle:
            recorded = json.load(handle)
        finished.extend(recorded["finished"])
        warmed_up.append(recorded["finished"][WARMUP_IMAGES_PER_WORKER - 1])
        cpu = recorded["cpu"]
        steady_cpu += cpu[-1] - cpu[WARMUP_IMAGES_PER_WORKER - 1]
        steady_images += len(cpu) - WARMUP_IMAGES_PER_WORKER
    return {"finished": finished, "wall": time.monotonic() - started, "cpu_per_image": steady_cpu / steady_images,
            "first_image_s": min(finished) - launched, "steady_start": max(warmed_up)}


def summarise(runs: List[Dict[str, Any]], workers: int) -> Dict[str, Any]:
    """Return the median steady rate (and each run's), the mean whole-command rate and the
    median CPU per image of repeated runs. On this virtual machine a whole run now and then
    needs about 20 % more CPU per image, for the plain script as for threedb. The median
    keeps one such run from deciding the ratio."""
    steady = [steady_rate(run["finished"], workers, run["steady_start"]) for run in runs]
    return {"steady": statistics.median(steady), "steady_runs": steady,
            "whole": statistics.fmean(len(run["finished"]) / run["wall"] for run in runs),
            "cpu": statistics.median(run["cpu_per_image"] for run in runs),
            "first_image_s": statistics.fmean(run["first_image_s"] for run in runs)}


def measure(work: str, data: str, resolution: int, renders: int, workers: int, repeats: int, with_null: bool,
            source: str) -> Dict[str, Any]:
    """Measure one configuration: threedb and plain runs in the order b a a b b a (b a for one repeat),
    so that a steady drift of the machine's speed affects both alike."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    load = LoadMeter().start()
    threedb_runs: List[Dict[str, Any]] = []
    plain_runs: List[Dict[str, Any]] = []
    for repeat in range(repeats):
        if repeat % 2 == 0:
            threedb_runs.append(run_threedb(work, data, resolution, renders, workers, threads, "efficientnet",
                                            source, f"r{repeat}"))
            plain_runs.append(run_plain(work, data, resolution, threedb_runs[0]["jobs"], workers, threads,
                                        f"r{repeat}"))
        else:
            plain_runs.append(run_plain(work, data, resolution, threedb_runs[0]["jobs"], workers, threads,
                                        f"r{repeat}"))
            threedb_runs.append(run_threedb(work, data, resolution, renders, workers, threads, "efficientnet",
                                            source, f"r{repeat}"))
    null_runs = [run_threedb(work, data, resolution, renders, workers, threads, "null", source, "r0")] \
        if with_null else []
    load.stop()

    row: Dict[str, Any] = {"resolution": resolution, "workers": workers, "threads": threads,
                           "renders": len(threedb_runs[0]["jobs"]), "repeats": repeats,
                           "other_cores": load.other_cores,
                           "threedb": summarise(threedb_runs, workers), "plain": summarise(plain_runs, workers)}
    if null_runs:
        row["null"] = summarise(null_runs, workers)
    return row


def format_rows(rows: List[Dict[str, Any]]) -> List[List[str]]:
    table = []
    for row in rows:
        threedb, plain = row["threedb"], row["plain"]
        steady = threedb["steady"] / plain["steady"]
        cpu_text = f"{plain['cpu']:.2f} / {threedb['cpu']:.2f}"
        if "null" in row:
            null_ratio = row["null"]["steady"] / plain["steady"]
            null_text = f"{null_ratio:.2f}"
            cpu_text += f" / {row['null']['cpu']:.2f}"
            # The classifier's share of the gap, from CPU time (steadier than wall time on a
            # shared machine): the CPU that the classifier adds, over all that threedb adds.
            gap = threedb["cpu"] - plain["cpu"]
            classifier = threedb["cpu"] - row["null"]["cpu"]
            share = f"{min(max(classifier / gap, 0.0), 1.0):.0%}" if gap > 0.005 else "no gap"
        else:
            null_text = share = "-"
        cpu_text += f" ({plain['cpu'] / threedb['cpu']:.2f})"
        verdict = "met" if steady >= TARGET_STEADY_RATIO else "missed"
        table.append([f"{row['resolution']} px", f"{row['workers']} x {row['threads']}",
                      f"{row['renders']} x {row['repeats']}",
                      f"{plain['steady']:.2f}", f"{threedb['steady']:.2f}", f"{steady:.2f} ({verdict})",
                      f"{plain['whole']:.2f}", f"{threedb['whole']:.2f}", f"{threedb['whole'] / plain['whole']:.2f}",
                      f"{plain['first_image_s']:.1f} / {threedb['first_image_s']:.1f}",
                      cpu_text, null_text, share, f"{row['other_cores']:.2f}",
                      ", ".join(f"{rate:.2f}" for rate in plain["steady_runs"]) + " / "
                      + ", ".join(f"{rate:.2f}" for rate in threedb["steady_runs"])])
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="224 px only, 12 renders per run, one repeat, no null-classifier run")
    parser.add_argument("--renders", type=int, default=0, metavar="N",
                        help="renders per run, a multiple of 2 (default: 48, or 12 with --quick)")
    parser.add_argument("--repeats", type=int, default=0, metavar="R",
                        help="runs of each variant per configuration (default: 3, or 1 with --quick)")
    parser.add_argument("--workers", type=int, action="append", metavar="W",
                        help="worker counts to measure (repeatable; default: 1 and 2)")
    parser.add_argument("--resolution", type=int, action="append", metavar="PX",
                        help="image sizes to measure (repeatable; default: 224 and 256, or 224 with --quick)")
    parser.add_argument("--keep", action="store_true", help="keep the runs' output folders")
    parser.add_argument("--source", default=REPO_DIR, metavar="DIR",
                        help="folder holding the threedb package to measure, e.g. a copy with a proposed "
                             "change (default: this repository)")
    parser.add_argument("--no-null", action="store_true", help="skip the null-classifier runs")
    args = parser.parse_args()

    renders = args.renders or (12 if args.quick else 48)
    repeats = args.repeats or (1 if args.quick else 3)
    if renders % (len(ENVIRONMENTS) * len(MODELS)) or renders < 8:
        parser.error(f"--renders must be a multiple of {len(ENVIRONMENTS) * len(MODELS)} and at least 8")
    resolutions = args.resolution or ([224] if args.quick else [224, 256])
    worker_counts = args.workers or [1, 2]

    work = tempfile.mkdtemp(prefix="threedb-bench-overhead-")
    data = make_data_dir(work, ensure_demo_data(), MODELS, ENVIRONMENTS)
    print(f"# threedb run vs a plain bpy script: {machine_line()}", flush=True)
    if os.path.abspath(args.source) != REPO_DIR:
        print(f"# threedb from {os.path.abspath(args.source)}", flush=True)
    rows = []
    try:
        for resolution in resolutions:
            for workers in worker_counts:
                row = measure(work, data, resolution, renders, workers, repeats, not (args.quick or args.no_null),
                              os.path.abspath(args.source))
                rows.append(row)
                print(f"  {resolution} px, {workers} workers: steady ratio "
                      f"{row['threedb']['steady'] / row['plain']['steady']:.2f}", flush=True)
    finally:
        if args.keep:
            print(f"outputs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print_table(["resolution", "workers x threads", "renders x runs", "plain img/s (steady)",
                 "threedb img/s (steady)", "ratio steady (target >= 0.90)", "plain img/s (whole)",
                 "threedb img/s (whole)", "ratio whole", "first image after (s): plain / threedb",
                 "CPU s/img: plain / threedb / threedb, null classifier (plain / threedb)",
                 "ratio steady, null classifier", "classifier's share of the CPU gap", "other load (cores)",
                 "steady img/s of each run: plain / threedb"],
                format_rows(rows))


if __name__ == "__main__":
    main()
