"""Benchmark the classifier: inside a render worker, alone in a loop, batched, and overlapped.

Everything runs in this one process, which plays a render worker (a real
``threedb.execution.worker.Worker``: Blender scene, controls, EfficientNet-Lite0,
evaluator, result buffer) with the Cycles thread count of a 1-worker run on this machine.

1. In the worker: ``Worker.run_job`` on N jobs (224 px, 16 samples, random orientation and
   camera), timing each call of the renderer and of the model, and the rest of the job.
2. Alone: the same model object runs in a loop on the images those jobs rendered, with
   batch sizes 1, 2, 4 and 8. The table gives the time per image and whether batched
   outputs equal the outputs of one image at a time, bit for bit and in the logged values
   (prediction, is_correct, loss).
3. Overlap: the same jobs scored on a second thread while the next one renders, as a
   local worker process runs them (``Worker.render`` on the main thread, ``Worker.score``
   on the other), against render-then-score, in alternating blocks.

Run: ``python benchmarks/bench_inference.py [--quick]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import LoadMeter, machine_line, make_data_dir, print_table, write_yaml  # noqa: E402
from bench_overhead import experiment_config  # noqa: E402

from threedb.config import build_experiment, load_config  # noqa: E402
from threedb.execution.jobs import Job, job_id  # noqa: E402
from threedb.execution.worker import Worker  # noqa: E402
from threedb.rendering.demo_data import ensure_demo_data  # noqa: E402
from threedb.result_logging.buffer import BigChungusCyclicBuffer  # noqa: E402
from threedb.scheduling.search_space import SearchSpace  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

BATCH_SIZES = (1, 2, 4, 8)


class Timed:
    """Wrap a callable and record the wall time of each call in seconds."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.seconds: List[float] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds.append(time.perf_counter() - started)


def make_worker(work: str, renders: int) -> tuple[Worker, List[Dict[str, Any]]]:
    """Build a worker for a 224 px experiment on one HDRI and one model, and N job messages."""
    data = make_data_dir(work, ensure_demo_data(), ["mug.blend"], ["studio.exr"])
    config_path = write_yaml(os.path.join(work, "inference.yaml"), experiment_config(224, renders, "efficientnet"))
    experiment = build_experiment(load_config(config_path), data)
    channels = dict(__import__(experiment.render_args["engine"], fromlist=["Renderer"]).Renderer.declare_outputs(
        experiment.render_args))
    evaluator_module = __import__(experiment.evaluation["module"], fromlist=["Evaluator"])
    channels.update(evaluator_module.Evaluator(**experiment.evaluation["args"]).declare_outputs())
    buffer = BigChungusCyclicBuffer(channels, size=2, max_consumers=2)
    threads = os.cpu_count() or 1
    worker = Worker(experiment, buffer, threads, seed=0)

    space = SearchSpace(experiment.controls)
    generator = np.random.default_rng(0)
    jobs = []
    for index in range(renders):
        params = space.unpack(tuple(generator.random(space.continuous_dim)), ())
        identifier = job_id(0, "studio.exr", "mug.blend", index, params)
        jobs.append(Job(id=identifier, environment="studio.exr", model="mug.blend", params=params, seed=0,
                        slot=0).message())
    return worker, jobs


def measure_in_worker(worker: Worker, jobs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Run the jobs through ``Worker.run_job``; time the renderer, the model and the whole job."""
    model, render = Timed(worker.model), Timed(worker.renderer.render)
    worker.model, worker.renderer.render = model, render
    images: List[torch.Tensor] = []
    original_model = model.function

    def keep_input(batch: torch.Tensor) -> torch.Tensor:
        images.append(batch[0].clone())
        return original_model(batch)

    model.function = keep_input
    totals = []
    try:
        for job in jobs:
            started = time.perf_counter()
            worker.run_job(job)
            totals.append(time.perf_counter() - started)
    finally:
        worker.model, worker.renderer.render = original_model, render.function
    # The first job loads the scene and pays for Cycles' first render; leave it out.
    steady = slice(1, None)
    rest = [t - r - m for t, r, m in zip(totals[steady], render.seconds[steady], model.seconds[steady])]
    return {"job": statistics.median(totals[steady]), "render": statistics.median(render.seconds[steady]),
            "model": statistics.median(model.seconds[steady]), "rest": statistics.median(rest),
            "images": images}


def measure_alone(worker: Worker, images: List[torch.Tensor], repeats: int) -> List[Dict[str, Any]]:
    """Time the model alone per batch size and compare batched outputs with single-image outputs."""
    model, evaluator = worker.model, worker.evaluator
    target = evaluator.get_target("mug")
    singles = [model(image.unsqueeze(0))[0] for image in images]
    rows = []
    for batch_size in BATCH_SIZES:
        batches = [torch.stack(images[i:i + batch_size]) for i in range(0, len(images) - batch_size + 1, batch_size)]
        model(batches[0])  # warm-up for this shape
        per_image = []
        for _ in range(repeats):
            for batch in batches:
                started = time.perf_counter()
                model(batch)
                per_image.append((time.perf_counter() - started) / batch_size)
        outputs = [row for batch in batches for row in model(batch)]
        bitwise = all(torch.equal(a, b) for a, b in zip(outputs, singles))
        max_diff = max(float((a - b).abs().max()) for a, b in zip(outputs, singles))
        logged_same = True
        loss_diff = 0.0
        for a, b in zip(outputs, singles):
            stats_a, stats_b = evaluator.summary_stats(a, target), evaluator.summary_stats(b, target)
            logged_same &= (stats_a["is_correct"] == stats_b["is_correct"]
                            and np.array_equal(stats_a["prediction"], stats_b["prediction"]))
            loss_diff = max(loss_diff, abs(stats_a["loss"] - stats_b["loss"]))
        rows.append({"batch": batch_size, "per_image": statistics.median(per_image), "bitwise": bitwise,
                     "max_diff": max_diff, "logged_same": logged_same, "loss_diff": loss_diff})
    return rows


def measure_overlap(worker: Worker, jobs: List[Dict[str, Any]], blocks: int) -> Dict[str, float]:
    """Return images per second for render-then-score and for scoring on a second thread
    while the next job renders, as a local worker process does (``worker_main``)."""
    rates: Dict[str, List[float]] = {"sequential": [], "overlapped": []}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="score") as pool:
        for _ in range(blocks):
            started = time.perf_counter()
            for job in jobs:
                worker.score(job, worker.render(job))
            rates["sequential"].append(len(jobs) / (time.perf_counter() - started))

            started = time.perf_counter()
            previous = None
            for job in jobs:
                rendered = worker.render(job)
                if previous is not None:
                    previous.result()
                previous = pool.submit(worker.score, job, rendered)
            previous.result()
            rates["overlapped"].append(len(jobs) / (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer renders and repeats (about 40 s)")
    args = parser.parse_args()
    renders, repeats, blocks = (9, 3, 1) if args.quick else (17, 5, 2)

    print(f"# Classifier inside a worker vs alone: {machine_line()}", flush=True)
    load = LoadMeter().start()
    work = tempfile.mkdtemp(prefix="threedb-bench-inference-")
    worker, jobs = make_worker(work, renders)
    try:
        torch_threads = torch.get_num_threads()
        in_worker = measure_in_worker(worker, jobs)
        alone = measure_alone(worker, in_worker["images"], repeats)
        overlap = measure_overlap(worker, jobs[1:], blocks)
    finally:
        worker.buffer.close()
        shutil.rmtree(work, ignore_errors=True)
    load.stop()

    print(f"\nWorker with {worker.renderer.args.get('threads')} Cycles threads and {torch_threads} PyTorch "
          f"thread(s), {len(jobs) - 1} jobs after the first (medians):\n")
    print_table(["part of a job", "ms per image", "share of the job"], [
        [name, f"{1000 * in_worker[key]:.1f}", f"{in_worker[key] / in_worker['job']:.0%}"]
        for name, key in (("render (controls excluded)", "render"), ("classifier", "model"),
                          ("everything else", "rest"), ("whole job", "job"))])
    print()
    print_table(["classifier", "batch", "ms per image", "vs inside the worker", "bitwise equal to batch 1",
                 "max logit difference", "same prediction and is_correct", "max loss difference"], [
        ["alone in a loop", row["batch"], f"{1000 * row['per_image']:.1f}",
         f"{row['per_image'] / in_worker['model']:.2f}", row["bitwise"], f"{row['max_diff']:.2e}",
         row["logged_same"], f"{row['loss_diff']:.2e}"] for row in alone])
    print()
    print_table(["worker loop", "images/s", "vs sequential"], [
        ["render, then score", f"{overlap['sequential']:.2f}", "1.00"],
        ["score on a second thread while the next job renders", f"{overlap['overlapped']:.2f}",
         f"{overlap['overlapped'] / overlap['sequential']:.2f}"]])
    print(f"\nOther processes used {load.other_cores:.2f} cores on average during this benchmark.")


if __name__ == "__main__":
    main()
