"""Runs each configured logger in its own process and feeds it result items."""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import queue
import signal
import time
import traceback
from typing import Any, Dict, List

from threedb.errors import RunError

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 120.0


def logger_main(index: int, module_name: str, root_dir: str, buffer: Any, config: Dict[str, Any],
                items: Any, status: Any, log_level: int) -> None:
    """Entry point of a logger process."""
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
    try:
        while True:
            item = items.get()
            instance.log(item)
            if item is None:
                break
        end = getattr(instance, "end", None)
        if callable(end):
            end()
    except Exception:  # noqa: BLE001 - reported to the driver by name
        status.put(("error", index, traceback.format_exc()))
        return
    status.put(("done", index, ""))


class LoggerProcesses:
    """The logger processes of one run."""

    def __init__(self, modules: List[str], root_dir: str, buffer: Any, config: Dict[str, Any],
                 log_level: int = logging.WARNING) -> None:
        self.modules = modules
        self.context = multiprocessing.get_context("spawn")
        self.status = self.context.Queue()
        self.queues = [self.context.Queue() for _ in modules]
        self.accepts_failures = []
        for name in modules:
            logger_class = getattr(importlib.import_module(name), "Logger")
            self.accepts_failures.append(bool(getattr(logger_class, "accepts_failures", False)))
        self.processes = [
            self.context.Process(target=logger_main, name=f"threedb-logger-{i}",
                                 args=(i, name, root_dir, buffer, config, self.queues[i], self.status, log_level),
                                 daemon=True)
            for i, name in enumerate(modules)
        ]
        self.errors: Dict[int, str] = {}
        self.done: set[int] = set()

    def start(self) -> None:
        """Start every logger and wait until each has registered with the buffer."""
        for process in self.processes:
            process.start()
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
        for index, items in enumerate(self.queues):
            if index in self.errors or (failed and not self.accepts_failures[index]):
                continue
            items.put(item)

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
            self.queues[index].put(None)
        deadline = time.monotonic() + timeout
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
