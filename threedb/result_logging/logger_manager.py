"""Runs each configured logger in its own process and feeds it result items.

Items travel to each logger in batches over a pipe: :meth:`LoggerProcesses.dispatch` only
appends the item to the logger's pending list, and a sender thread pickles everything
pending as one message. At a few results per second every batch contains one item. When
results arrive faster than a message can be sent, the batches grow, so one pickle and one
pipe write serve many items. The logger process calls ``log(item)`` for each item of a
batch and then, if the logger defines it, ``flush()``, so a logger can write each batch to
disk at once.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import pickle
import queue
import signal
import threading
import time
import traceback
from typing import Any, Dict, List

from threedb.errors import RunError

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 120.0
GATHER_S = 0.001  # minimum time between two batches to one logger while items keep coming


def logger_main(index: int, module_name: str, root_dir: str, buffer: Any, config: Dict[str, Any],
                items: Any, status: Any, log_level: int) -> None:
    """Entry point of a logger process; ``items`` is the read end of its :class:`ItemChannel`."""
    # Ctrl-C reaches the whole process group; the driver decides when loggers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format=f"%(asctime)s logger-{index} %(levelname)s %(name)s: %(message)s")
    try:
        module = importlib.import_module(module_name)
        instance = module.Logger(root_dir, buffer, config)
    except Exception:  # noqa: BLE001 - reported to the driver by name
        status.put(("error", index, traceback.format_exc()))
        return
    status.put(("ready", index, ""))
    flush = getattr(instance, "flush", None)
    try:
        finished = False
        while not finished:
            for item in pickle.loads(items.recv_bytes()):
                instance.log(item)
                if item is None:
                    finished = True
                    break
            if callable(flush) and not finished:
                flush()
        end = getattr(instance, "end", None)
        if callable(end):
            end()
    except Exception:  # noqa: BLE001 - reported to the driver by name
        status.put(("error", index, traceback.format_exc()))
        return
    status.put(("done", index, ""))


class ItemChannel:
    """Sends items to one logger process in batches, from a background thread.

    :meth:`put` never blocks, so a logger that stops reading cannot stall the driver. Its
    items wait in memory until the driver's stall check names and stops that logger.
    """

    def __init__(self, context: Any, name: str) -> None:
        self.reader, self.writer = context.Pipe(duplex=False)
        self.name = name
        self.error: str | None = None
        self._pending: List[Any] = []
        self._condition = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._send_loop, name=f"{name}-sender", daemon=True)
        self._thread.start()

    def put(self, item: Any) -> None:
        with self._condition:
            self._pending.append(item)
            self._condition.notify()

    def close(self, timeout: float) -> None:
        """Send what is pending, then stop the sender thread (waiting at most ``timeout`` seconds)."""
        with self._condition:
            self._closing = True
            self._condition.notify()
        self._thread.join(timeout=timeout)

    def _picklable(self, batch: List[Any]) -> List[Any]:
        """Return the items of ``batch`` that pickle, logging each one dropped."""
        picklable = []
        for item in batch:
            try:
                pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as error:  # noqa: BLE001 - the other items still go out
                identifier = item.get("id") if isinstance(item, dict) else None
                logger.error("%s: dropped item %s that could not be pickled: %s", self.name, identifier, error)
                continue
            picklable.append(item)
        return picklable

    def _send_loop(self) -> None:
        last_send = 0.0
        while True:
            with self._condition:
                while not self._pending and not self._closing:
                    self._condition.wait()
                if not self._pending:
                    return
                closing = self._closing
            since_last = time.monotonic() - last_send
            if since_last < GATHER_S and not closing:
                # Items arrive fast: let them gather, so that one wake-up of this thread (and
                # one hand-over of the GIL) serves every item dispatched meanwhile.
                time.sleep(GATHER_S - since_last)
            with self._condition:
                batch, self._pending = self._pending, []
            last_send = time.monotonic()
            try:
                payload = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - a bad item must not end the channel
                payload = pickle.dumps(self._picklable(batch), protocol=pickle.HIGHEST_PROTOCOL)
            try:
                self.writer.send_bytes(payload)
            except OSError as error:
                # The logger process is gone; the driver reports it by name.
                self.error = f"{type(error).__name__}: {error}"
                logger.warning("%s: dropped %d items: %s", self.name, len(batch), self.error)
                with self._condition:
                    self._pending.clear()
                    self._closing = True
                return


class LoggerProcesses:
    """The logger processes of one run."""

    def __init__(self, modules: List[str], root_dir: str, buffer: Any, config: Dict[str, Any],
                 log_level: int = logging.WARNING) -> None:
        self.modules = modules
        self.context = multiprocessing.get_context("spawn")
        self.status = self.context.Queue()
        self.channels = [ItemChannel(self.context, f"logger-{i}") for i in range(len(modules))]
        self.accepts_failures = []
        for name in modules:
            logger_class = getattr(importlib.import_module(name), "Logger")
            self.accepts_failures.append(bool(getattr(logger_class, "accepts_failures", False)))
        self.processes = [
            self.context.Process(target=logger_main, name=f"threedb-logger-{i}",
                                 args=(i, name, root_dir, buffer, config, self.channels[i].reader, self.status,
                                       log_level),
                                 daemon=True)
            for i, name in enumerate(modules)
        ]
        self.errors: Dict[int, str] = {}
        self.done: set[int] = set()

    def start(self) -> None:
        """Start every logger and wait until each has registered with the buffer."""
        for process, channel in zip(self.processes, self.channels):
            process.start()
            # The child has its own copy of the pipe's read end now. Closing ours lets a write
            # to a logger that died fail at once instead of blocking once the pipe is full.
            channel.reader.close()
        ready: set[int] = set()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while len(ready) < len(self.processes):
            try:
                kind, index, text = self.status.get(timeout=0.5)
            except queue.Empty:
                self._check_alive(starting=True)
                if time.monotonic() > deadline:
                    raise RunError(f"loggers did not start within {READY_TIMEOUT_S:.0f} s") from None
                continue
            if kind == "error":
                self.stop(timeout=2)
                raise RunError(f"logger {self.modules[index]} failed to start:\n{text}")
            ready.add(index)
        logger.info("%d logger processes ready", len(ready))

    def _check_alive(self, starting: bool = False) -> None:
        for index, process in enumerate(self.processes):
            if index in self.done or index in self.errors:
                continue
            if not process.is_alive():
                self.poll()
                if index in self.errors or index in self.done:
                    continue
                what = "failed to start" if starting else "died"
                self.errors.setdefault(index, f"process {what} ({_exit_reason(process)})")
                raise RunError(f"logger {self.modules[index]} {what} ({_exit_reason(process)})")

    def poll(self) -> None:
        """Collect status messages; raise :class:`RunError` naming a logger that failed."""
        self._collect()
        if self.errors:
            index, text = next(iter(self.errors.items()))
            raise RunError(f"logger {self.modules[index]} raised an error:\n{text}")

    def _collect(self) -> None:
        while True:
            try:
                kind, index, text = self.status.get_nowait()
            except queue.Empty:
                break
            if kind == "error":
                self.errors[index] = text
            elif kind == "done":
                self.done.add(index)

    def check(self) -> None:
        self.poll()
        self._check_alive()

    def dispatch(self, item: Dict[str, Any]) -> None:
        """Send a result item to every healthy logger (failed jobs only to loggers that accept them)."""
        failed = item.get("status") == "failed"
        for index, channel in enumerate(self.channels):
            if index in self.errors or (failed and not self.accepts_failures[index]):
                continue
            channel.put(item)

    def kill(self, index: int, reason: str) -> None:
        """Stop one logger that is stuck, and remember why."""
        self.errors.setdefault(index, reason)
        process = self.processes[index]
        if process.is_alive():
            process.kill()
            process.join(timeout=5)

    def healthy(self) -> List[int]:
        """Return the indices of loggers that neither raised nor died."""
        self._collect()
        return [i for i, p in enumerate(self.processes)
                if i not in self.errors and (p.is_alive() or i in self.done)]

    def finish(self, timeout: float = 300.0) -> None:
        """Send the end of the stream to every healthy logger and wait until each has written
        everything; raise :class:`RunError` naming any logger that failed."""
        healthy = self.healthy()
        for index in healthy:
            self.channels[index].put(None)
        deadline = time.monotonic() + timeout
        for index in healthy:
            self.channels[index].close(timeout=max(0.0, deadline - time.monotonic()))
        for index in healthy:
            process = self.processes[index]
            while process.is_alive() and time.monotonic() < deadline:
                process.join(timeout=0.2)
                self._collect()
            if process.is_alive():
                process.kill()
                raise RunError(f"logger {self.modules[index]} did not finish within {timeout:.0f} s")
        self._collect()
        for index, process in enumerate(self.processes):
            if index in self.errors:
                raise RunError(f"logger {self.modules[index]} raised an error:\n{self.errors[index]}")
            if index not in self.done:
                raise RunError(f"logger {self.modules[index]} exited without finishing ({_exit_reason(process)})")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop loggers that are still running (after an error)."""
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(timeout=timeout)


def _exit_reason(process: Any) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        return f"killed by signal {-code}"
    return f"exit code {code}"
