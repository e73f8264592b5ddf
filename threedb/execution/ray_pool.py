"""Render workers as Ray actors, for runs that outgrow one machine.

The driver keeps the scheduler, the policies, the shared-memory buffer and the loggers
(:class:`threedb.execution.local.LocalRun`). Each worker is a Ray actor that keeps one
:class:`~threedb.execution.worker.Worker`, and so one Blender scene, across jobs. Ray places it
on a node with ``worker_cpus`` CPUs and ``worker_gpus`` GPUs free. An actor cannot reach the
driver's shared memory, so it returns each result's arrays with its small values, under
``"_channels"``, and the driver copies them into the job's buffer slot.

Failures map onto the messages of :mod:`threedb.execution.pool`. A job that raises inside an
actor is a ``("failed", ...)`` message, and the actor goes on. An actor whose process or node
dies, or whose result object is lost, makes its handle report not alive with the reason;
:class:`LocalRun` then requeues that worker's jobs and starts a replacement through the pool.

Ray is an optional dependency (``pip install "threedb[ray]"``), so this module imports it only
when a Ray run starts.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
import platform
import signal
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

from threedb.config.experiment import Experiment
from threedb.errors import ThreeDBError
from threedb.execution.monitor import rss_mib
from threedb.execution.pool import Message, WorkerHandle, WorkerPool

logger = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "threedb[ray]"'
CONNECT_TIMEOUT_S = 10.0
PLACEMENT_WARNING_INTERVAL_S = 60.0


def import_ray() -> Any:
    """Import and return the ``ray`` module, or raise :class:`ThreeDBError` with the install command."""
    try:
        import ray  # noqa: PLC0415
    except ImportError as error:
        raise ThreeDBError(f"--ray needs the Ray package, which could not be imported ({error}). "
                           f"Install it with: {INSTALL_HINT}") from None
    return ray


def parse_address(address: str) -> Tuple[str, int] | None:
    """Return ``(host, port)`` for a ``HOST:PORT`` address and None for ``auto``, or raise :class:`ThreeDBError`."""
    if address == "auto":
        return None
    host, separator, port_text = address.rpartition(":")
    host = host.strip("[]")
    if not separator or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ThreeDBError(f"--ray: invalid address {address!r}. Expected HOST:PORT of the cluster's head node "
                           f"(as printed by `ray start --head`), or auto for the cluster this machine belongs to")
    return host, int(port_text)


def connect(address: str, log_level: int = logging.WARNING) -> None:
    """Connect this process to the Ray cluster at ``address`` (``HOST:PORT`` or ``auto``) as its driver.

    Raises :class:`ThreeDBError` when Ray is missing or no cluster is reachable at ``address``.
    """
    ray = import_ray()
    target = parse_address(address)
    if target is not None:
        # ray.init retries an unreachable address for minutes; a plain TCP connection fails at once.
        try:
            socket.create_connection(target, timeout=CONNECT_TIMEOUT_S).close()
        except OSError as error:
            raise ThreeDBError(f"--ray {address}: no Ray cluster is reachable there ({error}). Start one with "
                               f"`ray start --head` and pass the address that it prints") from None

    # ray.init replaces the SIGTERM handler with one that exits at once. The CLI's own handler
    # lets the run stop cleanly and keep its results, so it is put back afterwards.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.getsignal(signal.SIGTERM) if in_main_thread else None
    try:
        ray.init(address=address, logging_level=log_level, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as error:
        raise ThreeDBError(f"--ray {address}: could not connect to the Ray cluster: {error}. threedb must run "
                           f"on a node of the cluster (the head node, for example)") from None
    finally:
        if in_main_thread and previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
    resources = ray.cluster_resources()
    logger.info("connected to the Ray cluster at %s: %d nodes, %g CPUs, %g GPUs", address,
                len([n for n in ray.nodes() if n.get("Alive")]), resources.get("CPU", 0), resources.get("GPU", 0))


def disconnect() -> None:
    """Disconnect from the Ray cluster if connected. The cluster keeps running."""
    try:
        import ray  # noqa: PLC0415
    except ImportError:
        return
    if ray.is_initialized():
        ray.shutdown()


def check_capacity(workers: int, worker_cpus: float, worker_gpus: float) -> None:
    """Raise :class:`ThreeDBError` if the connected cluster never has room for ``workers`` actors of this size.

    The check uses the cluster's total resources, not what other jobs leave free: actors that do
    not fit now wait until Ray can place them.
    """
    ray = import_ray()
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    fits_on_a_node = any(n.get("CPU", 0) >= worker_cpus and n.get("GPU", 0) >= worker_gpus for n in nodes)
    sizes = ", ".join(f"{n.get('CPU', 0):g} CPUs / {n.get('GPU', 0):g} GPUs" for n in nodes) or "none"
    if not fits_on_a_node:
        raise ThreeDBError(f"no node of the Ray cluster has {worker_cpus:g} CPUs and {worker_gpus:g} GPUs for one "
                           f"worker (nodes: {sizes}). Lower --worker-cpus or --worker-gpus, or add a larger node")
    slots = sum(_workers_per_node(n, worker_cpus, worker_gpus) for n in nodes)
    if slots < workers:
        raise ThreeDBError(f"the Ray cluster has room for {slots} workers of {worker_cpus:g} CPUs and "
                           f"{worker_gpus:g} GPUs (nodes: {sizes}), fewer than --workers {workers}. Lower --workers, "
                           f"--worker-cpus or --worker-gpus, or add nodes")


def _workers_per_node(resources: Dict[str, float], worker_cpus: float, worker_gpus: float) -> int:
    counts = [math.floor(resources.get("CPU", 0) / worker_cpus + 1e-9)]
    if worker_gpus > 0:
        counts.append(math.floor(resources.get("GPU", 0) / worker_gpus + 1e-9))
    return max(0, min(counts))


class RenderActor:
    """The body of one Ray actor: a :class:`Worker` with its Blender scene, kept across jobs.

    ``__init__`` does nothing that can fail, so that a slow or failing start shows up in
    :meth:`load`'s result rather than as a dead actor.
    """

    def __init__(self, index: int, log_level: int) -> None:
        logging.basicConfig(level=log_level,
                            format=f"%(asctime)s worker-{index} %(levelname)s %(name)s: %(message)s")
        logging.getLogger("threedb").setLevel(log_level)
        self.index = index
        self.worker: Any = None

    def location(self) -> str:
        """Return where this actor runs: host name, Ray node id (first 8 hex digits) and process id."""
        import ray  # noqa: PLC0415

        node = ray.get_runtime_context().get_node_id()[:8]
        return f"{platform.node()} (node {node}, pid {os.getpid()})"

    def load(self, experiment: Experiment, threads: int, seed: int, channel_names: List[str],
             use_gpu: bool) -> Tuple[str, str]:
        """Build the worker; return ``("ready", device)`` or ``("start_failed", error)``."""
        from threedb.execution.worker import Worker  # noqa: PLC0415

        render_args = {**experiment.render_args, "use_gpu": use_gpu}
        experiment = dataclasses.replace(experiment, render_args=render_args)
        try:
            self.worker = Worker(experiment, None, threads, seed, channel_names=channel_names)
            device = self._render_device()
        except Exception as error:  # noqa: BLE001 - the driver reports start-up failures
            return "start_failed", f"{type(error).__name__}: {error}\n{traceback.format_exc()}"
        logger.info("worker %d started on %s (pid %d, device %s)", self.index, platform.node(), os.getpid(), device)
        return "ready", device

    def _render_device(self) -> str:
        import ray  # noqa: PLC0415

        renderer = self.worker.renderer
        device = str(getattr(renderer, "device", "CPU"))
        description = f"{device} on {platform.node()}"
        gpu_ids = ray.get_gpu_ids()
        if gpu_ids:
            description += f" (Ray GPU ids {', '.join(str(i) for i in gpu_ids)})"
        return description

    def compute(self, job: Dict[str, Any]) -> Tuple[str, Any]:
        """Render and score one job; return ``("done", values with "_channels")`` or ``("failed", error)``."""
        try:
            channels, values = self.worker.compute(job)
        except Exception as error:  # noqa: BLE001 - a failing job must not stop the worker
            logger.warning("job %s failed: %s", job["id"], error)
            return "failed", f"{type(error).__name__}: {error}"
        values["_channels"] = channels
        rss = rss_mib(os.getpid())
        if rss is not None:
            values["_memory"] = {"pid": os.getpid(), "host": platform.node(), "rss_mib": rss}
        return "done", values


@dataclass
class ActorHandle(WorkerHandle):
    """The driver's view of one render actor."""

    pool: "RayWorkerPool | None" = None
    actor: Any = None
    location: str = ""
    death: str | None = None
    last_placement_warning: float = field(default_factory=time.monotonic)

    def submit(self, job: Dict[str, Any]) -> None:
        self.pool.track(self, "compute", job["id"], self.actor.compute.remote(job))

    def is_alive(self) -> bool:
        return self.death is None

    def exit_reason(self) -> str:
        return self.death or "unknown"

    def stop(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the actor's queued jobs, then kill it.

        A worker still starting is killed at once: it has no jobs, and it may be waiting for
        resources that never come.
        """
        refs = self.pool.refs_of(self, kind="compute")
        logger.debug("stopping worker %d on %s with %d jobs queued", self.index, self.location or "no node yet",
                     len(refs))
        if refs and self.death is None:
            self.pool.ray.wait(refs, num_returns=len(refs), timeout=timeout)
        self.kill()

    def kill(self) -> None:
        self.pool.end(self, "stopped by the driver")


@dataclass
class _Call:
    """A pending actor method call: which handle made it, for which step or job, in which order."""

    handle: ActorHandle
    kind: str
    job_id: str | None
    sequence: int


class RayWorkerPool(WorkerPool):
    """Render workers as Ray actors on the cluster this process is connected to (see :func:`connect`)."""

    def __init__(self, experiment: Experiment, buffer: Any, threads: int, seed: int, log_level: int,
                 worker_cpus: float = 1.0, worker_gpus: float = 0.0) -> None:
        self.ray = import_ray()
        if not self.ray.is_initialized():
            raise ThreeDBError("RayWorkerPool needs a connected Ray cluster: call "
                               "threedb.execution.ray_pool.connect(address) first")
        self.experiment = experiment
        self.channel_names = list(buffer.channels)
        self.threads = threads
        self.seed = seed
        self.log_level = log_level
        self.worker_cpus = worker_cpus
        self.worker_gpus = worker_gpus
        self.calls: Dict[Any, _Call] = {}
        self.handles: Dict[int, ActorHandle] = {}
        self.sequence = itertools.count()
        self.actor_class = self.ray.remote(RenderActor).options(
            num_cpus=worker_cpus, num_gpus=worker_gpus, max_restarts=0, max_task_retries=0,
            scheduling_strategy="SPREAD", runtime_env=self._runtime_env())

    @staticmethod
    def _runtime_env() -> Dict[str, Any]:
        # Ray starts actors with the node's environment, not the driver's; PYTHONPATH is passed on
        # so that controls, models and loggers named by module path import there as they do here.
        pythonpath = os.environ.get("PYTHONPATH")
        return {"env_vars": {"PYTHONPATH": pythonpath}} if pythonpath else {}

    def start_worker(self, index: int) -> WorkerHandle:
        actor = self.actor_class.remote(index, self.log_level)
        handle = ActorHandle(index=index, pool=self, actor=actor)
        self.handles[index] = handle
        self.track(handle, "location", None, actor.location.remote())
        load = actor.load.remote(self.experiment, self.threads, self.seed, self.channel_names, self.worker_gpus > 0)
        self.track(handle, "load", None, load)
        return handle

    def track(self, handle: ActorHandle, kind: str, job_id: str | None, ref: Any) -> None:
        """Remember ``ref``, the result of one of ``handle``'s actor calls, until :meth:`poll` reads it."""
        self.calls[ref] = _Call(handle=handle, kind=kind, job_id=job_id, sequence=next(self.sequence))

    def refs_of(self, handle: ActorHandle, kind: str | None = None) -> List[Any]:
        """Return the pending calls of ``handle``, or only those of method ``kind``."""
        return [ref for ref, call in self.calls.items()
                if call.handle is handle and (kind is None or call.kind == kind)]

    def end(self, handle: ActorHandle, reason: str) -> None:
        """Mark ``handle`` dead with ``reason``, forget its pending calls and kill its actor."""
        if handle.death is None:
            handle.death = reason
        for ref in self.refs_of(handle):
            del self.calls[ref]
        try:
            self.ray.kill(handle.actor, no_restart=True)
        except (self.ray.exceptions.RayError, ValueError) as error:
            logger.debug("killing the actor of worker %d: %s", handle.index, error)

    def poll(self, timeout: float) -> List[Message]:
        """Return the messages of the actor calls that finished, waiting up to ``timeout`` seconds for the first."""
        self._hold_start_clocks()
        if not self.calls:
            time.sleep(timeout)
            return []
        refs = list(self.calls)
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=timeout)
        if not ready:
            return []
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
        ready.sort(key=lambda ref: self.calls[ref].sequence)

        messages: List[Message] = []
        for ref in ready:
            call = self.calls.pop(ref, None)
            if call is None or call.handle.death is not None:
                continue  # its actor died earlier in this batch; LocalRun requeues its jobs
            message = self._read(ref, call)
            if message is not None:
                messages.append(message)
        return messages

    def _read(self, ref: Any, call: _Call) -> Message | None:
        """Turn one finished call into a message, or into the death of its handle."""
        ray = self.ray
        handle = call.handle
        try:
            value = ray.get(ref)
        except ray.exceptions.RayTaskError as error:
            # The method raised past its own handler (for example, its result could not be pickled).
            text = f"{type(error.cause).__name__}: {error.cause}" if error.cause is not None else str(error)
            if call.kind == "compute":
                return "failed", handle.index, call.job_id, text
            return "start_failed", handle.index, None, text
        except (ray.exceptions.RuntimeEnvSetupError, ray.exceptions.ActorUnschedulableError) as error:
            return "start_failed", handle.index, None, f"Ray could not start the actor: {_first_line(error)}"
        except ray.exceptions.RayError as error:
            # Includes ActorUnavailableError, which Ray raises when it cannot reach an actor that
            # may come back. The actor is killed and replaced all the same: its jobs are rerun
            # elsewhere, and a late result of the old actor can no longer arrive.
            reason = _loss_reason(error)
            logger.info("worker %d on %s: %s", handle.index, handle.location or "no node yet", reason)
            self.end(handle, reason)
            return None

        if call.kind == "location":
            handle.location = str(value)
            # The start timeout counts from placement: waiting for free resources is not a slow start.
            handle.started = time.monotonic()
            logger.info("worker %d placed by Ray on %s", handle.index, handle.location)
            return None
        status, payload = value
        return status, handle.index, call.job_id, payload

    def _hold_start_clocks(self) -> None:
        """Keep an actor that waits for Ray to place it from hitting the start timeout while others render.

        After a node is lost, a replacement may wait until the cluster has room again; the run
        goes on with the workers it has. With no worker ready, the timeout applies as usual.
        """
        waiting = [h for h in self.handles.values() if h.death is None and not h.location]
        if not waiting or not any(h.ready and h.death is None for h in self.handles.values()):
            return
        now = time.monotonic()
        for handle in waiting:
            handle.started = now
            if now - handle.last_placement_warning > PLACEMENT_WARNING_INTERVAL_S:
                handle.last_placement_warning = now
                free = self.ray.available_resources()
                logger.warning("worker %d is waiting for Ray to place it (needs %g CPUs, %g GPUs; free in the "
                               "cluster: %g CPUs, %g GPUs)", handle.index, self.worker_cpus, self.worker_gpus,
                               free.get("CPU", 0), free.get("GPU", 0))

    def close(self) -> None:
        for handle in self.handles.values():
            if handle.death is None:
                self.end(handle, "stopped by the driver")


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _loss_reason(error: BaseException) -> str:
    """Return one line on why an actor or its result was lost, from Ray's multi-line error text."""
    text = str(error)
    # Ray 2.60's ActorDiedError names the cause in a sentence such as "The actor is dead because
    # its worker process has died." after a block of ids.
    start = text.find("The actor is dead because")
    first_sentence = (text[start:] if start >= 0 else _first_line(error)).split(". ")[0].rstrip(".")
    return f"Ray actor lost ({type(error).__name__}): {first_sentence}"
