"""Helpers shared by the benchmark scripts: machine description, process sampling, load
measurement, tables and data folders.

Memory and CPU figures come from ``/proc`` (Linux only). ``VmHWM`` is a process's peak
resident set size as the kernel counts it. ``Pss`` (from ``smaps_rollup``) splits each
shared page between the processes that map it, so a sum of PSS over processes counts
shared memory once.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import threading
import time
from typing import Dict, Iterable, List, Sequence, Tuple

import yaml

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS_DIR = os.path.join(REPO_DIR, "benchmarks")
MIB = 1024 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_line() -> str:
    """Return the date, CPU count, memory, CPU model and whether CUDA is visible, in one line."""
    with open("/proc/meminfo", encoding="ascii") as handle:
        total_kib = int(handle.readline().split()[1])
    model = ""
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    gpu = "GPU visible" if os.path.exists("/dev/nvidia0") else "no GPU"
    date = datetime.date.today().isoformat()
    return (f"{date}, {os.cpu_count()} cores ({model}), {total_kib / MIB:.0f} GiB, {gpu}, "
            f"Python {platform.python_version()}")


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a Markdown table, so a run's output can be pasted into benchmarks/README.md."""
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    sys.stdout.flush()


def read_status_kib(pid: int, field: str) -> int:
    """Return a ``/proc/<pid>/status`` field in KiB (``VmHWM``, ``VmRSS``), 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def read_pss_kib(pid: int) -> int:
    """Return the proportional set size of ``pid`` in KiB, 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def read_cpu_s(pid: int) -> float:
    """Return the user + system CPU seconds of ``pid`` so far, 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0.0
    # After the command name: state is field 3 of stat(5), utime field 14 and stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_s() -> Tuple[float, float]:
    """Return the CPU seconds all processes have used since boot and the steal time, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq) / CLOCK_TICKS, steal / CLOCK_TICKS


class LoadMeter:
    """Measure how busy the rest of the machine was while a benchmark ran.

    ``other_cores`` is the CPU time of every process outside this one and the children it
    waited for, divided by the wall time: 0 on an idle machine, 2 when two cores were
    busy with other work. Children must have been waited for before :meth:`stop`, or
    their CPU time counts as other load.
    """

    def __init__(self) -> None:
        self.other_cores = 0.0
        self.steal_cores = 0.0
        self._start = (0.0, 0.0, 0.0, 0.0)

    def start(self) -> "LoadMeter":
        busy, steal = machine_busy_s()
        self._start = (time.monotonic(), busy, steal, _own_cpu_s())
        return self

    def stop(self) -> "LoadMeter":
        started, busy0, steal0, own0 = self._start
        busy, steal = machine_busy_s()
        wall = max(1e-9, time.monotonic() - started)
        self.other_cores = max(0.0, (busy - busy0) - (_own_cpu_s() - own0)) / wall
        self.steal_cores = (steal - steal0) / wall
        return self


def _own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def descendants(pid: int) -> List[int]:
    """Return the process ids of every descendant of ``pid`` (children, grandchildren, ...)."""
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                text = handle.read()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        # The command name is in brackets and may contain spaces; the parent id follows it.
        parent = int(text.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found: List[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def process_role(pid: int) -> str:
    """Name a threedb process from its command line and mappings: driver, worker, logger or helper.

    Workers are the spawned processes that map Blender's shared library; spawned processes
    without it are loggers, except multiprocessing's resource tracker.
    """
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return "gone"
    if "resource_tracker" in cmdline:
        return "helper"
    if "spawn_main" not in cmdline:
        return "driver"
    try:
        with open(f"/proc/{pid}/maps", encoding="ascii", errors="replace") as handle:
            maps = handle.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return "gone"
    return "worker" if "/bpy/" in maps or "bpy.so" in maps else "logger"


class ProcessSampler:
    """Sample a process tree's memory and CPU time in a background thread until :meth:`stop`.

    Records each process's peak ``VmHWM`` and CPU seconds, the peak over time of the PSS
    summed over the whole tree (shared memory counted once, unless ``read_pss`` is off), and
    a history of ``(time.time(), CPU seconds of the whole tree)``. Processes that start and
    end between two samples are missed, so the interval should be short next to their
    lifetime.
    """

    # Listing /proc to find new processes costs more than reading a few status files, so the
    # process list is refreshed only every this many samples.
    REFRESH_EVERY = 10

    def __init__(self, root_pid: int, interval_s: float = 0.05, include_root: bool = True,
                 read_pss: bool = True) -> None:
        self.root_pid = root_pid
        self.interval_s = interval_s
        self.include_root = include_root
        self.read_pss = read_pss
        self.peak_hwm_kib: Dict[int, int] = {}
        self.cpu_s: Dict[int, float] = {}
        self.cpu_history: List[Tuple[float, Dict[int, float]]] = []
        self.roles: Dict[int, str] = {}
        self.peak_pss_total_kib = 0
        self._pids: List[int] = []
        self._samples = 0
        self.own_cpu_s = 0.0  # CPU time of the sampling thread, to subtract from its process
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="process-sampler", daemon=True)

    def start(self) -> "ProcessSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        """Take one sample now."""
        refresh = self._samples % self.REFRESH_EVERY == 0
        if refresh:
            self._pids = descendants(self.root_pid) + ([self.root_pid] if self.include_root else [])
        self._samples += 1
        total = 0
        for pid in self._pids:
            hwm = read_status_kib(pid, "VmHWM")
            if hwm == 0:
                continue
            self.peak_hwm_kib[pid] = max(self.peak_hwm_kib.get(pid, 0), hwm)
            self.cpu_s[pid] = max(self.cpu_s.get(pid, 0.0), read_cpu_s(pid))
            # A spawned process looks like a logger until it imports bpy, so keep checking
            # processes not known to be workers whenever the process list is refreshed.
            if pid == self.root_pid:
                self.roles[pid] = "driver"
            elif pid not in self.roles or (refresh and self.roles[pid] == "logger"):
                role = process_role(pid)
                if role != "gone":
                    self.roles[pid] = role
            if self.read_pss:
                total += read_pss_kib(pid)
        self.peak_pss_total_kib = max(self.peak_pss_total_kib, total)
        self.cpu_history.append((time.time(), dict(self.cpu_s)))

    def _run(self) -> None:
        started = time.thread_time()
        while not self._stop.is_set():
            self.sample()
            self.own_cpu_s = time.thread_time() - started
            self._stop.wait(self.interval_s)

    def cpu_at(self, when: float, role: str | None = None) -> float:
        """Return the CPU seconds of the tree (or of the processes with ``role``) at wall-clock
        time ``when``, interpolated between samples."""
        history = [(t, sum(c for pid, c in cpu.items() if role is None or self.roles.get(pid) == role))
                   for t, cpu in self.cpu_history]
        if not history:
            return 0.0
        for (t0, c0), (t1, c1) in zip(history, history[1:]):
            if t0 <= when <= t1:
                return c0 + (c1 - c0) * (when - t0) / max(t1 - t0, 1e-9)
        return history[0][1] if when < history[0][0] else history[-1][1]

    def cpu_by_role(self) -> Dict[str, List[float]]:
        """Return each role's CPU seconds as last sampled (up to one interval short at exit)."""
        grouped: Dict[str, List[float]] = {}
        for pid, seconds in self.cpu_s.items():
            grouped.setdefault(self.roles.get(pid, "unknown"), []).append(seconds)
        return grouped

    def peaks_by_role(self) -> Dict[str, List[int]]:
        """Return each role's peak VmHWM values in KiB, largest first."""
        grouped: Dict[str, List[int]] = {}
        for pid, peak in self.peak_hwm_kib.items():
            grouped.setdefault(self.roles.get(pid, "unknown"), []).append(peak)
        return {role: sorted(values, reverse=True) for role, values in grouped.items()}


def make_data_dir(root: str, demo_dir: str, models: Sequence[str], environments: Sequence[str]) -> str:
    """Make a data folder under ``root`` that links some of the demo data's models and environments."""
    data = os.path.join(root, "data")
    for folder, names in (("blender_models", models), ("blender_environments", environments)):
        os.makedirs(os.path.join(data, folder), exist_ok=True)
        for name in names:
            link = os.path.join(data, folder, name)
            if not os.path.lexists(link):
                os.symlink(os.path.join(demo_dir, folder, name), link)
    link = os.path.join(data, "class_map.json")
    if not os.path.lexists(link):
        os.symlink(os.path.join(demo_dir, "class_map.json"), link)
    return data


def write_yaml(path: str, config: Dict[str, object]) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    return path
