"""The driver of a run on this machine: policies, scheduler, worker processes, buffer and loggers.

Policies run in threads, one per (environment, model) pair; each requests batches of points
and blocks until their results come back. The scheduler in the main thread hands jobs to
worker processes, at most ``MAX_IN_FLIGHT`` per worker, preferring a worker that already has
the job's environment and model loaded, then one with the job's environment. Results go
into the shared-memory buffer (the worker writes its slot directly) and from there to the
logger processes.
"""

from __future__ import annotations

import collections
import importlib
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, List, Tuple

from threedb.config.experiment import Experiment
from threedb.errors import RunError
from threedb.execution.jobs import Job, job_id, pair_seed
from threedb.execution.monitor import ResourceMonitor, process_ids, reported_memory
from threedb.execution.pool import LocalWorkerPool, Message, WorkerHandle, WorkerPool
from threedb.result_logging.buffer import BigChungusCyclicBuffer, buffer_size_for, slot_bytes
from threedb.result_logging.logger_manager import LoggerProcesses
from threedb.scheduling.search_space import SearchSpace

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 3          # jobs per worker: one being scored, one rendering, one waiting in its queue
MAX_ATTEMPTS = 3           # a job that killed this many workers is logged as failed
WORKER_START_TIMEOUT_S = 300.0
Pair = Tuple[str, str]


def stall_timeout_s() -> float:
    """Seconds without a free buffer slot before the run stops and names the stuck logger."""
    return float(os.environ.get("THREEDB_STALL_TIMEOUT", "120"))


@dataclass
class BatchRequest:
    """A policy's batch: its jobs and, once done, one result dict per job (in order)."""

    jobs: List[Job]
    results: List[Dict[str, Any] | None]
    remaining: int
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class RunSummary:
    """The outcome of a run: one record per finished job, failures, scene switches and timing."""

    records: List[Dict[str, Any]]
    failures: List[Dict[str, Any]]
    scene_switches: int
    wall_time_s: float
    devices: List[str]
    earlier_jobs: int = 0     # jobs that a resumed run found in details.log (finished or failed)
    earlier_records: int = 0  # the records among ``records`` that come from those jobs


class LocalRun:
    """One experiment run with worker processes on this machine."""

    def __init__(self, experiment: Experiment, output_dir: str, workers: int, seed: int, threads: int = 0,
                 progress: bool = True, log_level: int = logging.WARNING, pool_factory: Any = None,
                 completed: Dict[str, Dict[str, Any]] | None = None) -> None:
        self.experiment = experiment
        self.output_dir = output_dir
        self.worker_count = max(1, workers)
        self.seed = seed
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.worker_count)
        self.progress = progress
        self.log_level = log_level
        self.space = SearchSpace(experiment.controls)
        self.requests: "queue.Queue[BatchRequest]" = queue.Queue()
        self.pending: Dict[Pair, Deque[Tuple[Job, BatchRequest, int]]] = collections.OrderedDict()
        self.owner: Dict[str, Tuple[BatchRequest, int]] = {}
        self.records: List[Dict[str, Any]] = []
        self.failures: List[Dict[str, Any]] = []
        self.scene_switches = 0
        self.policy_errors: List[str] = []
        self.workers: List[WorkerHandle] = []
        self.pool_factory = pool_factory or LocalWorkerPool
        self.pool: WorkerPool | None = None
        self.completed = completed or {}
        self.monitor = ResourceMonitor(output_dir)
        self.start_failures = 0
        self.skipped = 0
        self.earlier_records = 0
        self.skipped_lock = threading.Lock()
        self.buffer: BigChungusCyclicBuffer | None = None
        self.loggers: LoggerProcesses | None = None
        self.bar: Any = None

    # -- set-up ---------------------------------------------------------------------------------

    def _channels(self) -> Dict[str, Tuple[List[int], str]]:
        renderer = importlib.import_module(self.experiment.render_args["engine"]).Renderer
        channels = dict(renderer.declare_outputs(self.experiment.render_args))
        evaluator_module = importlib.import_module(self.experiment.evaluation["module"])
        evaluator = evaluator_module.Evaluator(**self.experiment.evaluation["args"])
        channels.update(evaluator.declare_outputs())
        return channels

    def _policy_class(self) -> Any:
        return importlib.import_module(self.experiment.policy["module"]).Policy

    def _policy_args(self) -> Dict[str, Any]:
        return {k: v for k, v in self.experiment.policy.items() if k not in ("module",)}

    def total_jobs(self) -> int:
        total = 0
        policy_class = self._policy_class()
        args = self._policy_args()
        for _ in self._pairs():
            policy = policy_class(self.space.continuous_dim, self.space.discrete_sizes, **{"seed": 0, **args})
            total += int(policy.hint_scheduler()[1])
        return total

    def _pairs(self) -> List[Pair]:
        return [(env, model) for env in self.experiment.environments for model in self.experiment.models]

    def _earlier_result(self, job: Job) -> Dict[str, Any] | None:
        """Return the result a resumed run already logged for ``job``, or None."""
        record = self.completed.get(job.id)
        if record is None:
            return None
        with self.skipped_lock:
            self.skipped += 1
            if record.get("status", "ok") == "ok":
                self.earlier_records += 1
                self.records.append({"environment": job.environment, "model": job.model,
                                     "is_correct": record.get("is_correct"), "loss": record.get("loss")})
        return dict(record)

    def _policy_thread(self, pair: Pair) -> None:
        env, model = pair
        args = self._policy_args()
        seed = args.pop("seed", None)
        seed = pair_seed(self.seed if seed is None else seed, env, model)
        counter = [0]

        def render(batch: List[Any]) -> List[Dict[str, Any]]:
            jobs = []
            for continuous, discrete in batch:
                params = self.space.unpack(continuous, discrete)
                jobs.append(Job(id=job_id(self.seed, env, model, counter[0], params), environment=env,
                                model=model, params=params, seed=self.seed))
                counter[0] += 1
            results: List[Dict[str, Any] | None] = [self._earlier_result(job) for job in jobs]
            todo = [job for job, result in zip(jobs, results) if result is None]
            if todo:
                request = BatchRequest(jobs=todo, results=[None] * len(todo), remaining=len(todo))
                self.requests.put(request)
                request.done.wait()
                fresh = iter(request.results)
                results = [result if result is not None else next(fresh) for result in results]
            return [r or {"status": "failed"} for r in results]

        try:
            policy = self._policy_class()(self.space.continuous_dim, self.space.discrete_sizes, seed=seed, **args)
            policy.run(render)
        except Exception as error:  # noqa: BLE001 - reported at the end of the run
            logger.exception("policy for %s / %s failed", env, model)
            self.policy_errors.append(f"policy for {env} / {model} failed: {type(error).__name__}: {error}")

    # -- the main loop ----------------------------------------------------------------------------

    def execute(self) -> RunSummary:
        from tqdm import tqdm  # noqa: PLC0415

        started = time.monotonic()
        channels = self._channels()
        consumers = len(self.experiment.logger_modules) + 4
        size = buffer_size_for(self.worker_count, len(self.experiment.logger_modules), self.experiment.buffer_size,
                               bytes_per_slot=slot_bytes(channels))
        self.buffer = BigChungusCyclicBuffer(channels, size=size, max_consumers=consumers)
        try:
            self.loggers = LoggerProcesses(self.experiment.logger_modules, self.output_dir, self.buffer,
                                           self.experiment.resolved_config(), self.log_level)
            self.loggers.start()
            self.pool = self.pool_factory(self.experiment, self.buffer, self.threads, self.seed, self.log_level)
            # Workers start once a job needs rendering, so that resuming a finished run starts none.
            threads = [threading.Thread(target=self._policy_thread, args=(pair,), daemon=True,
                                        name=f"policy-{pair[0]}-{pair[1]}") for pair in self._pairs()]
            for thread in threads:
                thread.start()
            self.bar = tqdm(total=self.total_jobs(), unit="render", disable=not self.progress, dynamic_ncols=True,
                            desc="rendering")
            self._loop(threads)
            self._sample_resources(force=True)
            self.bar.close()
            self._stop_workers()
            self.loggers.finish()
        except KeyboardInterrupt:
            self._close_bar()
            logger.warning("interrupted: stopping workers and writing out the results received so far")
            self._abort(drain=False)
            raise
        except BaseException:
            self._close_bar()
            self._abort(drain=True)
            raise
        finally:
            self.buffer.close()
        if self.policy_errors:
            raise RunError("\n".join(self.policy_errors))
        return RunSummary(records=self.records, failures=self.failures, scene_switches=self.scene_switches,
                          wall_time_s=time.monotonic() - started, devices=[w.device for w in self.workers],
                          earlier_jobs=self.skipped, earlier_records=self.earlier_records)

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def _loop(self, threads: List[threading.Thread]) -> None:
        last_slot = time.monotonic()
        shown_skipped = 0
        while True:
            if self.skipped != shown_skipped:
                self.bar.update(self.skipped - shown_skipped)
                shown_skipped = self.skipped
            self._take_requests()
            if not self.workers and any(self.pending.values()):
                self.workers = [self.pool.start_worker(i) for i in range(self.worker_count)]
            self._drain_results(timeout=0.05)
            self._check_workers()
            self.loggers.check()
            self._sample_resources()
            if self._dispatch():
                last_slot = time.monotonic()
            elif self._waiting_for_slot() and time.monotonic() - last_slot > stall_timeout_s():
                raise RunError(self._stall())
            busy = any(w.in_flight for w in self.workers) or any(self.pending.values())
            if not busy and self.requests.empty() and not any(t.is_alive() for t in threads):
                self.bar.update(self.skipped - shown_skipped)
                return

    def _sample_resources(self, force: bool = False) -> None:
        self.monitor.maybe_sample(process_ids(self.workers, self.loggers), len(self.records),
                                  reported=reported_memory(self.workers), force=force)

    def _take_requests(self) -> None:
        while True:
            try:
                request = self.requests.get_nowait()
            except queue.Empty:
                return
            for position, job in enumerate(request.jobs):
                pair = (job.environment, job.model)
                self.pending.setdefault(pair, collections.deque()).append((job, request, position))
                self.owner[job.id] = (request, position)

    def _waiting_for_slot(self) -> bool:
        return any(self.pending.values()) and any(w.ready and len(w.in_flight) < MAX_IN_FLIGHT for w in self.workers)

    def _choose(self, worker: WorkerHandle) -> Tuple[Job, BatchRequest, int] | None:
        if worker.pair and self.pending.get(worker.pair):
            return self.pending[worker.pair].popleft()
        taken = {w.pair for w in self.workers if w is not worker and w.in_flight}
        candidates = [(len(jobs), pair) for pair, jobs in self.pending.items() if jobs]
        if not candidates:
            return None
        free = [c for c in candidates if c[1] not in taken]
        _, pair = max(free or candidates, key=lambda c: self._preference(worker, c[1], c[0]))
        return self.pending[pair].popleft()

    @staticmethod
    def _preference(worker: WorkerHandle, pair: Pair, pending: int) -> Tuple[bool, int]:
        """Return the sort key of a pair that ``worker`` may switch to, the largest first.

        A pair with this worker's environment comes first, because the renderer then swaps
        only the model. Then the pair with the most pending jobs.
        """
        environment = worker.pair[0] if worker.pair else None
        return pair[0] == environment, pending

    def _dispatch(self) -> bool:
        """Give jobs to workers with room; return True if a slot was reserved."""
        reserved = False
        for worker in self.workers:
            while worker.ready and len(worker.in_flight) < MAX_IN_FLIGHT:
                slot = self.buffer.try_reserve()
                if slot is None:
                    return reserved
                choice = self._choose(worker)
                if choice is None:
                    self.buffer.release(slot)
                    return reserved
                job, _, _ = choice
                job.slot = slot
                reserved = True
                pair = (job.environment, job.model)
                if worker.pair != pair:
                    self.scene_switches += 1
                    worker.pair = pair
                worker.in_flight[job.id] = job
                worker.submit(job.message())
        return reserved

    def _drain_results(self, timeout: float) -> None:
        for message in self.pool.poll(timeout):
            self._handle(message)

    def _handle(self, message: Message) -> None:
        kind, index, identifier, payload = message
        worker = self.workers[index]
        if kind == "ready":
            worker.ready, worker.device = True, str(payload)
            logger.info("worker %d ready on %s", index, payload)
        elif kind == "start_failed":
            raise RunError(f"worker {index} failed to start: {payload}")
        elif kind == "started":
            worker.running.append(str(identifier))
        elif kind == "done":
            worker.forget(str(identifier))
            job = worker.in_flight.pop(str(identifier))
            values = dict(payload)
            channels = values.pop("_channels", None)
            memory = values.pop("_memory", None)
            if memory is not None:
                worker.memory = memory
            if channels is not None:
                self.buffer.write(job.slot, channels)
            self._finish(job, values)
        elif kind == "failed":
            worker.forget(str(identifier))
            job = worker.in_flight.pop(str(identifier))
            self.buffer.release(job.slot)
            self._fail(job, str(payload))

    def _item(self, job: Job) -> Dict[str, Any]:
        return {"id": job.id, "environment": job.environment, "model": job.model,
                "render_args": dict(job.params)}

    def _finish(self, job: Job, values: Dict[str, Any]) -> None:
        self.buffer.publish(job.slot)
        item = {**self._item(job), "result_ix": job.slot, "target": values.get("target"), "status": "ok"}
        if values.get("measured"):
            item["measured"] = values["measured"]
        self.loggers.dispatch(item)
        with self.skipped_lock:
            self.records.append({"environment": job.environment, "model": job.model,
                                 "is_correct": values.get("is_correct"), "loss": values.get("loss")})
        self._complete(job, {**values, "status": "ok"})
        if self.bar is not None:
            self.bar.update(1)

    def _fail(self, job: Job, error: str) -> None:
        item = {**self._item(job), "status": "failed", "error": error, "attempts": job.attempts + 1}
        self.loggers.dispatch(item)
        self.failures.append({"id": job.id, "environment": job.environment, "model": job.model, "error": error})
        self._complete(job, {"status": "failed", "error": error})
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(failures=len(self.failures))

    def _complete(self, job: Job, result: Dict[str, Any]) -> None:
        request, position = self.owner.pop(job.id)
        request.results[position] = result
        request.remaining -= 1
        if request.remaining == 0:
            request.done.set()

    def _check_workers(self) -> None:
        for position, worker in enumerate(self.workers):
            if worker.is_alive():
                if not worker.ready and time.monotonic() - worker.started > WORKER_START_TIMEOUT_S:
                    raise RunError(f"worker {worker.index} did not start within {WORKER_START_TIMEOUT_S:.0f} s")
                continue
            self._drain_results(timeout=0.0)
            lost = list(worker.in_flight.values())
            reason = worker.exit_reason()
            if not worker.ready:
                self.start_failures += 1
                if self.start_failures >= MAX_ATTEMPTS:
                    raise RunError(f"worker processes died {self.start_failures} times before they were ready "
                                   f"(last: {reason}); run with -v to see their log")
            logger.warning("worker %d died (%s) with %d jobs in flight; starting a replacement",
                           worker.index, reason, len(lost))
            # Only a job the worker was rendering or scoring can have killed it, so the jobs
            # queued behind go back unblamed. Without "started" messages, the oldest job in
            # flight was running. A local worker scores one job while it renders the next. If
            # both were under way, neither is blamed, and both rerun alone to find the culprit.
            under_way = [job_id for job_id in worker.running if job_id in worker.in_flight]
            if not under_way and lost:
                under_way = [lost[0].id]
            if len(under_way) > 1:
                logger.warning("worker %d was rendering one job and scoring another (%s); both rerun alone",
                               worker.index, ", ".join(under_way))
            for job in reversed(lost):
                self.buffer.release(job.slot)
                job.slot = None
                if job.id in under_way:
                    if len(under_way) == 1:
                        job.attempts += 1
                    else:
                        job.isolate = True
                if job.attempts >= MAX_ATTEMPTS:
                    self._fail(job, f"worker process died {job.attempts} times while running this job "
                                    f"(last: {reason})")
                else:
                    request, pos = self.owner[job.id]
                    self.pending.setdefault((job.environment, job.model), collections.deque()).appendleft(
                        (job, request, pos))
            worker.kill()
            self.workers[position] = self.pool.start_worker(worker.index)

    def _stall(self) -> str:
        """Find the logger that keeps the buffer's entries, stop it, and return the error message."""
        held = self.buffer.held_by()
        pids = self.buffer.owner_pids()
        by_pid = {p.pid: i for i, p in enumerate(self.loggers.processes)}
        worst = max(held, key=held.get) if held else None
        if worst is None:
            return "no free result slot and no logger registered"
        index = by_pid.get(pids[worst - 1])
        name = self.loggers.modules[index] if index is not None else f"consumer {worst}"
        message = (f"result buffer full for {stall_timeout_s():.0f} s: logger {name} holds {held[worst]} of "
                   f"{self.buffer.size} entries without calling free(index, regid)")
        if index is not None:
            self.loggers.kill(index, message)
        return message

    # -- shutdown -----------------------------------------------------------------------------------

    def _stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop(timeout=30)
        if self.pool is not None:
            self.pool.close()

    def _drain_in_flight(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for jobs already running, so their results are logged."""
        deadline = time.monotonic() + timeout
        while any(w.in_flight for w in self.workers if w.is_alive()) and time.monotonic() < deadline:
            self._drain_results(timeout=0.1)

    def _abort(self, drain: bool) -> None:
        """Stop after an error or an interrupt, keeping every result computed so far.

        With ``drain``, jobs already running are given a short time to finish first. Workers
        are then killed, and healthy loggers write out every item they received.
        """
        if drain and self.pool is not None:
            try:
                self._drain_in_flight(timeout=60)
            except (RunError, KeyboardInterrupt) as error:
                logger.warning("stopped waiting for running jobs: %s", error)
        for worker in self.workers:
            worker.kill()
        if self.pool is not None:
            self.pool.close()
        if self.loggers is not None:
            try:
                self.loggers.finish(timeout=120)
            except RunError as error:
                logger.error("%s", error)
                self.loggers.stop()
