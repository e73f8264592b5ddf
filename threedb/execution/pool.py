"""Worker pools: how the driver starts render workers and hears back from them.

The scheduler in :mod:`threedb.execution.local` only uses this interface, so the same
scheduling, retry and logging code drives local processes and Ray actors.

Messages from workers are tuples ``(kind, worker_index, job_id, payload)``:

- ``("ready", i, None, device)`` once a worker has loaded its model;
- ``("started", i, job_id, None)`` when a worker begins to render a job (optional: without
  it, the driver takes the oldest job in flight as the one a dead worker was running). A
  local worker may start the next job before the previous one is done: it scores one job
  while it renders the next;
- ``("start_failed", i, None, error)`` if it could not start;
- ``("done", i, job_id, values)``: the job's small values (``is_correct``, ``loss``, ...).
  A worker that cannot write into the driver's shared memory adds ``"_channels"``, the
  result's arrays, which the driver copies into the job's slot;
- ``("failed", i, job_id, error)``: the job raised; the worker goes on.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing import connection
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

from threedb.config.experiment import Experiment
from threedb.execution.jobs import Job
from threedb.execution.worker import worker_main
from threedb.rendering.render_blender import remove_scratch

Message = Tuple[str, int, Any, Any]
Pair = Tuple[str, str]


@dataclass
class WorkerHandle:
    """The driver's view of one worker, whatever runs it."""

    index: int
    ready: bool = False
    device: str = ""
    pair: Pair | None = None
    in_flight: Dict[str, Job] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    running: List[str] = field(default_factory=list)
    # What a remote worker last reported about its process: pid, host and rss_mib.
    memory: Dict[str, Any] | None = None

    def forget(self, job_id: str) -> None:
        """Drop a finished job from ``running``, the jobs this worker reported as started."""
        if job_id in self.running:
            self.running.remove(job_id)

    def submit(self, job: Dict[str, Any]) -> None:
        raise NotImplementedError

    def is_alive(self) -> bool:
        raise NotImplementedError

    def exit_reason(self) -> str:
        return "unknown"

    def stop(self, timeout: float) -> None:
        """Ask the worker to finish its queue and exit; kill it after ``timeout`` seconds."""
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError


class WorkerPool:
    """Starts workers and collects their messages."""

    def start_worker(self, index: int) -> WorkerHandle:
        raise NotImplementedError

    def poll(self, timeout: float) -> List[Message]:
        """Return the messages that arrived, waiting up to ``timeout`` seconds for the first."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class PipeSender:
    """The worker's end of its result pipe, with the ``put`` of a queue.

    ``Connection.send`` writes the message before returning (a ``multiprocessing.Queue``
    hands it to a feeder thread), so a message is not lost when the worker is killed
    right after sending it.
    """

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def put(self, message: Message) -> None:
        self.connection.send(message)


@dataclass
class ProcessHandle(WorkerHandle):
    process: Any = None
    tasks: Any = None
    reader: Any = None

    def submit(self, job: Dict[str, Any]) -> None:
        self.tasks.put(job)

    def is_alive(self) -> bool:
        return bool(self.process.is_alive())

    def exit_reason(self) -> str:
        code = self.process.exitcode
        if code is not None and code < 0:
            return f"killed by signal {-code}"
        return f"exit code {code}"

    def stop(self, timeout: float) -> None:
        if self.process.is_alive():
            self.tasks.put(None)
            self.process.join(timeout=timeout)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=10)
        # A killed worker cannot delete its scratch render file on exit.
        remove_scratch(self.process.pid)


class LocalWorkerPool(WorkerPool):
    """Worker processes on this machine (``spawn``: each starts a fresh interpreter and Blender)."""

    def __init__(self, experiment: Experiment, buffer: Any, threads: int, seed: int, log_level: int) -> None:
        self.experiment = experiment
        self.buffer = buffer
        self.threads = threads
        self.seed = seed
        self.log_level = log_level
        self.context = multiprocessing.get_context("spawn")
        self.handles: Dict[int, ProcessHandle] = {}

    def start_worker(self, index: int) -> WorkerHandle:
        tasks = self.context.Queue()
        reader, writer = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=worker_main, name=f"threedb-worker-{index}", daemon=True,
            args=(index, self.experiment, self.buffer, tasks, PipeSender(writer), self.threads, self.seed,
                  self.log_level))
        process.start()
        writer.close()  # the worker has the only write end, so its death ends the pipe
        old = self.handles.get(index)
        if old is not None:
            old.reader.close()
        handle = ProcessHandle(index=index, process=process, tasks=tasks, reader=reader)
        self.handles[index] = handle
        return handle

    def poll(self, timeout: float) -> List[Message]:
        readers = {h.reader: h for h in self.handles.values() if not h.reader.closed}
        messages: List[Message] = []
        for reader in connection.wait(list(readers), timeout=max(timeout, 0.0)):
            while True:
                try:
                    if not reader.poll():
                        break
                    messages.append(reader.recv())
                except (EOFError, OSError):
                    break  # the worker died; LocalRun detects it through is_alive()
        return messages

    def close(self) -> None:
        for handle in self.handles.values():
            handle.reader.close()
