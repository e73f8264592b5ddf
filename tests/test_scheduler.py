"""The scheduler's choice of the next job for a worker (LocalRun._choose), without rendering.

Workers are the pool interface's plain ``WorkerHandle`` records: _choose only reads which
pair each worker has loaded and whether it has jobs in flight.
"""

from __future__ import annotations

import collections

from conftest import tiny_config, write_config

from threedb.config import build_experiment, load_config
from threedb.execution.jobs import Job
from threedb.execution.local import LocalRun
from threedb.execution.pool import WorkerHandle


def make_run(tmp_path, demo_data, pending):
    experiment = build_experiment(load_config(write_config(tmp_path, tiny_config())), demo_data)
    run = LocalRun(experiment, str(tmp_path / "out"), workers=2, seed=0, progress=False)
    for (environment, model), count in pending.items():
        jobs = collections.deque()
        for index in range(count):
            jobs.append((Job(f"{environment}-{model}-{index}", environment, model, {}, 0), None, index))
        run.pending[(environment, model)] = jobs
    return run


def chosen_pair(run, worker):
    job, _, _ = run._choose(worker)
    return job.environment, job.model


def test_worker_keeps_its_loaded_pair(tmp_path, demo_data):
    run = make_run(tmp_path, demo_data, {("a.exr", "mug"): 1, ("b.exr", "mug"): 9})
    worker = WorkerHandle(index=0, pair=("a.exr", "mug"))
    run.workers = [worker]
    assert chosen_pair(run, worker) == ("a.exr", "mug")


def test_loaded_environment_beats_pending_count(tmp_path, demo_data):
    # The loaded pair has no jobs left: a pair with the same environment only swaps the model.
    run = make_run(tmp_path, demo_data, {("a.exr", "teddy"): 2, ("b.exr", "mug"): 9, ("a.exr", "mug"): 0})
    worker = WorkerHandle(index=0, pair=("a.exr", "mug"))
    run.workers = [worker]
    assert chosen_pair(run, worker) == ("a.exr", "teddy")


def test_pair_taken_by_another_worker_is_avoided(tmp_path, demo_data):
    run = make_run(tmp_path, demo_data, {("a.exr", "teddy"): 5, ("b.exr", "mug"): 3})
    busy = WorkerHandle(index=1, pair=("a.exr", "teddy"), in_flight={"x": None})
    worker = WorkerHandle(index=0, pair=("a.exr", "mug"))
    run.workers = [worker, busy]
    assert chosen_pair(run, worker) == ("b.exr", "mug")


def test_new_worker_takes_most_pending(tmp_path, demo_data):
    run = make_run(tmp_path, demo_data, {("a.exr", "teddy"): 2, ("b.exr", "mug"): 7, ("c.exr", "mug"): 4})
    worker = WorkerHandle(index=0)
    run.workers = [worker]
    assert chosen_pair(run, worker) == ("b.exr", "mug")
