"""Benchmark the result-logging pipeline alone: shared-memory buffer to logger processes.

A producer in this process plays the driver. For each synthetic result, it reserves a
slot of the real ``BigChungusCyclicBuffer`` and copies into it a 3 x 256 x 256 float32
``rgb`` image and the classification outputs (``is_correct``, ``loss``, top-5
``prediction`` and ``confidence``). It then publishes the slot and dispatches the item to
the real ``LoggerProcesses``. Nothing is rendered. The buffer is sized by
``buffer_size_for`` for two workers and the configured loggers, as a run would size it.

Each logger set reports its results per second, from the first reservation until every
logger has finished writing, and the time the producer spent waiting for a free slot. It
also reports each process's CPU time per result and an estimate for an idle machine
computed from those CPU times (see :func:`idle_estimate`). Memory is the peak of the
summed PSS of the producer and logger processes, and the peak RSS of each.

The images are synthetic: smooth sky and ground gradients, a shaded disc, and Gaussian
noise with a standard deviation of 0.01. Their PNG files are about 107 KB, against 68 to
121 KB for real 256 px renders at 16 samples. 16 different images rotate.

Run: ``python benchmarks/bench_logging.py [--quick]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Dict, List

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import MIB, LoadMeter, ProcessSampler, machine_line, print_table, read_cpu_s  # noqa: E402

from threedb.result_logging.buffer import BigChungusCyclicBuffer, buffer_size_for  # noqa: E402
from threedb.result_logging.logger_manager import LoggerProcesses  # noqa: E402

SIDE = 256
WORKERS = 2  # the buffer is sized as for a run with this many render workers
DISTINCT_IMAGES = 16
NOISE_STD = 0.01
STALL_POLL_S = 0.001  # how often a producer waiting for a free slot looks again

# 3DB's pipeline, measured with these shapes on a machine like this one (from the issue that
# asked for this benchmark): results per second and peak memory with its fixed 1,001-slot buffer.
REFERENCE_3DB = {"json": 5600.0, "json+image": 310.0}
REFERENCE_3DB_PEAK_MIB = 1.7 * 1024

LOGGER_SETS = {
    "json": ["threedb.result_logging.json_logger"],
    "json+csv": ["threedb.result_logging.json_logger", "threedb.result_logging.csv_logger"],
    "json+image": ["threedb.result_logging.json_logger", "threedb.result_logging.image_logger"],
}
TARGET_FACTOR = {"json": 2.0, "json+image": 3.0}

CHANNELS = {
    "rgb": ([3, SIDE, SIDE], "float32"),
    "is_correct": ([], "bool"),
    "loss": ([], "float32"),
    "prediction": ([5], "int32"),
    "confidence": ([5], "float32"),
}


def synthetic_images(count: int, side: int, seed: int = 0) -> List[np.ndarray]:
    """Return ``count`` float32 (3, side, side) images in [0, 1] that look like noisy renders."""
    generator = np.random.default_rng(seed)
    rows = np.linspace(0.0, 1.0, side, dtype=np.float32)[:, None]
    columns = np.linspace(0.0, 1.0, side, dtype=np.float32)[None, :]
    images = []
    for _ in range(count):
        sky = generator.uniform(0.3, 0.9, 3).astype(np.float32)
        ground = generator.uniform(0.1, 0.5, 3).astype(np.float32)
        horizon = generator.uniform(0.4, 0.7)
        image = np.where(rows[None] < horizon, sky[:, None, None] * (1.0 - 0.4 * rows[None]),
                         ground[:, None, None] * (0.6 + 0.4 * rows[None]))
        image = np.broadcast_to(image, (3, side, side)).copy()
        cy, cx, radius = generator.uniform(0.3, 0.7), generator.uniform(0.3, 0.7), generator.uniform(0.1, 0.3)
        distance = np.sqrt((rows - cy) ** 2 + (columns - cx) ** 2)
        inside = distance < radius
        shade = np.clip(1.0 - distance / radius, 0.0, 1.0)
        colour = generator.uniform(0.2, 1.0, 3).astype(np.float32)
        for channel in range(3):
            image[channel][inside] = (colour[channel] * (0.3 + 0.7 * shade))[inside]
        image += generator.normal(0.0, NOISE_STD, image.shape).astype(np.float32)
        images.append(np.clip(image, 0.0, 1.0).astype(np.float32))
    return images


def make_item(index: int, slot: int) -> Dict[str, Any]:
    """Return a result item shaped like the driver's: ids, pair, nine control parameters, target."""
    angle = (index % 628) / 100.0 - 3.14
    return {
        "id": f"{index:016x}", "environment": "studio.exr", "model": "mug.blend",
        "render_args": {"OrientationControl.rotation_x": 0.1, "OrientationControl.rotation_y": -0.2,
                        "OrientationControl.rotation_z": angle, "CameraControl.view_point_x": 0.5,
                        "CameraControl.view_point_y": -0.7, "CameraControl.view_point_z": 0.3,
                        "CameraControl.zoom_factor": 1.1, "CameraControl.aperture": 16.0,
                        "CameraControl.focal_length": 50.0},
        "result_ix": slot, "target": [504, 968], "status": "ok",
    }


def wait_for_slot(buffer: BigChungusCyclicBuffer, loggers: LoggerProcesses) -> int:
    """Poll until a slot is free and reserve it; raise if a logger failed meanwhile."""
    next_check = time.perf_counter() + 0.05
    while True:
        time.sleep(STALL_POLL_S)
        slot = buffer.try_reserve()
        if slot is not None:
            return slot
        if time.perf_counter() > next_check:
            loggers.check()
            next_check = time.perf_counter() + 0.05


def produce(buffer: BigChungusCyclicBuffer, loggers: LoggerProcesses, results: int,
            images: List[np.ndarray]) -> float:
    """Push ``results`` synthetic results as the driver does; return the seconds spent waiting for slots."""
    predictions = np.array([504, 968, 505, 899, 725], dtype=np.int32)
    confidences = np.array([0.6, 0.2, 0.1, 0.05, 0.01], dtype=np.float32)
    stall_s = 0.0
    for index in range(results):
        slot = buffer.try_reserve()
        if slot is None:
            waited = time.perf_counter()
            slot = wait_for_slot(buffer, loggers)
            stall_s += time.perf_counter() - waited
        buffer.write(slot, {"rgb": images[index % len(images)], "is_correct": index % 3 == 0,
                            "loss": 1.5, "prediction": predictions, "confidence": confidences})
        buffer.publish(slot)
        loggers.dispatch(make_item(index, slot))
    return stall_s


def run_pipeline(name: str, modules: List[str], results: int, images: List[np.ndarray]) -> Dict[str, Any]:
    """Push ``results`` synthetic results through the buffer to ``modules``; return the measurements.

    The output folder is left for :func:`check_output` and the caller to remove.
    """
    size = buffer_size_for(WORKERS, len(modules))
    buffer = BigChungusCyclicBuffer(CHANNELS, size=size, max_consumers=len(modules) + 4)
    output = tempfile.mkdtemp(prefix=f"threedb-bench-logging-{name.replace('+', '-')}-")
    config = {"inference": {}, "evaluation": {"args": {}}, "logging": {"logger_modules": modules}}
    loggers = LoggerProcesses(modules, output, buffer, config)
    sampler = ProcessSampler(os.getpid(), interval_s=0.05)
    load = LoadMeter()
    try:
        loggers.start()
        logger_pids = [process.pid for process in loggers.processes]
        cpu_before = {pid: read_cpu_s(pid) for pid in [os.getpid(), *logger_pids]}
        sampler.start()
        load.start()
        started = time.perf_counter()
        stall_s = produce(buffer, loggers, results, images)
        produced = time.perf_counter()
        producer_cpu_s = read_cpu_s(os.getpid()) - cpu_before[os.getpid()] - sampler.own_cpu_s
        sampler.sample()
        loggers.finish()
        finished = time.perf_counter()
        load.stop()
    finally:
        sampler.stop()
        loggers.stop()
        buffer.close()

    peaks = sampler.peaks_by_role()
    logger_cpu_s = [sampler.cpu_s.get(pid, 0.0) - cpu_before[pid] for pid in logger_pids]
    return {
        "name": name, "results": results, "slots": size,
        "buffer_mib": size * 3 * SIDE * SIDE * 4 / MIB,
        "rate": results / (finished - started),
        "produce_s": produced - started, "total_s": finished - started, "stall_s": stall_s,
        "peak_pss_mib": sampler.peak_pss_total_kib / 1024,
        "producer_rss_mib": max(peaks.get("driver", [0])) / 1024,
        "logger_rss_mib": [sampler.peak_hwm_kib.get(pid, 0) / 1024 for pid in logger_pids],
        "producer_cpu_ms": 1000 * producer_cpu_s / results,
        "logger_cpu_ms": [1000 * seconds / results for seconds in logger_cpu_s],
        "other_cores": load.other_cores,
        "output": output,
    }


def idle_estimate(measured: Dict[str, Any], modules: List[str]) -> float:
    """Estimate the results per second of an idle machine from the CPU time each process used.

    The rate is bounded by the producer and the JSON and CSV loggers, which each use one
    core at most, by the image logger, which uses every core, and by all of them together
    sharing the cores. The estimate assumes nothing else limits the pipeline (memory
    bandwidth, latency), so it is an upper bound.
    """
    cores = os.cpu_count() or 1
    limits = [1000.0 / measured["producer_cpu_ms"]]
    for module, cpu_ms in zip(modules, measured["logger_cpu_ms"]):
        parallel = cores if module.endswith("image_logger") else 1
        limits.append(parallel * 1000.0 / max(cpu_ms, 1e-6))
    limits.append(cores * 1000.0 / (measured["producer_cpu_ms"] + sum(measured["logger_cpu_ms"])))
    return min(limits)


def check_output(output: str, results: int, images: List[np.ndarray]) -> None:
    """Check that every result was logged and that a few PNG files decode to the expected pixels."""
    with open(os.path.join(output, "details.log"), "rb") as handle:
        lines = sum(1 for _ in handle)
    if lines != results:
        raise RuntimeError(f"{output}/details.log has {lines} lines, expected {results}")
    directory = os.path.join(output, "images")
    if not os.path.isdir(directory):
        return
    written = len(os.listdir(directory))
    if written != results:
        raise RuntimeError(f"{directory} contains {written} files, expected {results}")
    for index in (0, results // 2, results - 1):
        expected = (np.clip(images[index % len(images)].transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8)
        with Image.open(os.path.join(directory, f"{index:016x}_rgb.png")) as image:
            decoded = np.asarray(image.convert("RGB"))
        if not np.array_equal(decoded, expected):
            raise RuntimeError(f"{directory}: image {index:016x}_rgb.png does not match the result's rgb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="push fewer results (about 20 s in all)")
    parser.add_argument("--only", choices=sorted(LOGGER_SETS), action="append",
                        help="run only this logger set (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the loggers' output folders in the temp folder")
    args = parser.parse_args()

    counts = {"json": 40000, "json+csv": 40000, "json+image": 6000}
    if args.quick:
        counts = {"json": 8000, "json+csv": 8000, "json+image": 1500}
    images = synthetic_images(DISTINCT_IMAGES, SIDE)
    print(f"# Logging pipeline alone: {machine_line()}")
    rows = []
    for name, modules in LOGGER_SETS.items():
        if args.only and name not in args.only:
            continue
        measured = run_pipeline(name, modules, counts[name], images)
        try:
            check_output(measured["output"], counts[name], images)
        finally:
            if not args.keep:
                shutil.rmtree(measured["output"], ignore_errors=True)
        reference = REFERENCE_3DB.get(name)
        versus = f"{measured['rate'] / reference:.2f}x" if reference else "-"
        target = f">= {TARGET_FACTOR[name]:.0f}x" if name in TARGET_FACTOR else "-"
        loggers_rss = ", ".join(f"{v:.0f}" for v in measured["logger_rss_mib"])
        loggers_cpu = ", ".join(f"{v:.3f}" for v in measured["logger_cpu_ms"])
        estimate = idle_estimate(measured, modules)
        estimate_versus = f" ({estimate / reference:.1f}x)" if reference else ""
        rows.append([name, measured["results"], f"{measured['slots']} ({measured['buffer_mib']:.0f} MiB)",
                     f"{measured['rate']:,.0f}", versus, target, f"{estimate:,.0f}{estimate_versus}",
                     f"{measured['stall_s']:.2f} s of {measured['produce_s']:.2f} s",
                     f"{measured['producer_cpu_ms']:.3f}", loggers_cpu,
                     f"{measured['peak_pss_mib']:.0f}", f"{measured['producer_rss_mib']:.0f}", loggers_rss,
                     f"{measured['other_cores']:.2f}"])
        print(f"  {name}: {measured['rate']:,.0f} results/s", flush=True)
    print()
    print_table(["loggers", "results", "buffer slots", "results/s", "vs 3DB", "target",
                 "estimate for an idle machine (results/s, vs 3DB)", "producer stalled",
                 "producer CPU ms/result", "logger CPU ms/result", "peak PSS, all processes (MiB)",
                 "producer peak RSS (MiB)", "logger peak RSS (MiB)", "other load (cores)"], rows)
    print(f"\n3DB reference peak memory: {REFERENCE_3DB_PEAK_MIB:.0f} MiB; target: at most "
          f"{REFERENCE_3DB_PEAK_MIB / 5:.0f} MiB.")


if __name__ == "__main__":
    main()
