"""The result buffer: shared-memory slots, one per result, reference-counted per consumer.

Every channel (``rgb``, ``is_correct``, ...) is one shared-memory array of shape
``(size, *channel_shape)``. A consumer (a logger process) calls :meth:`register` once and
gets an id; for every result it reads ``buffer[index]`` and then calls
``free(index, regid)``. The reference counts are a ``(size, max_consumers)`` uint8 array in
shared memory where each consumer only ever writes its own column, so freeing needs no lock
and no message. The driver owns allocation: a slot is reusable when it is not reserved and
its row of reference counts is all zero.

Workers on this machine write their results straight into the slot the driver reserved
for their job, so a result is copied into shared memory once.
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing import shared_memory
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np

ChannelDeclaration = Mapping[str, Tuple[Sequence[int], str]]


class BufferArray(np.ndarray):
    """A numpy view of one buffer entry. ``numpy()`` and ``cpu()`` return it unchanged, so
    3DB loggers written against torch tensors keep working."""

    def numpy(self) -> np.ndarray:
        return np.asarray(self)

    def cpu(self) -> "BufferArray":
        return self


class BigChungusCyclicBuffer:
    """Shared-memory result slots with per-consumer reference counts (3DB's class name).

    Created by the driver with :meth:`create`; pickled into logger and worker processes,
    which attach to the same shared memory.
    """

    def __init__(self, channels: ChannelDeclaration, size: int, max_consumers: int,
                 _names: Dict[str, str] | None = None, _lock: Any = None) -> None:
        self.channels = {k: (tuple(int(d) for d in shape), str(dtype)) for k, (shape, dtype) in channels.items()}
        self.size = int(size)
        self.max_consumers = int(max_consumers)
        self._owner = _names is None
        self._lock = _lock if _lock is not None else multiprocessing.get_context("spawn").Lock()
        self._blocks: Dict[str, shared_memory.SharedMemory] = {}
        self.arrays: Dict[str, np.ndarray] = {}
        self.consumer_name = ""
        self._reserved: set[int] = set()
        self._next = 0

        layout = dict(self.channels)
        layout["__refs__"] = ((self.size, self.max_consumers), "uint8")
        layout["__owners__"] = ((self.max_consumers,), "int32")
        layout["__count__"] = ((1,), "int64")
        for name, (shape, dtype) in layout.items():
            full_shape = shape if name.startswith("__") else (self.size, *shape)
            nbytes = max(1, int(np.prod(full_shape)) * np.dtype(dtype).itemsize)
            if _names is None:
                block = shared_memory.SharedMemory(create=True, size=nbytes)
            else:
                block = _attach(_names[name])
            self._blocks[name] = block
            self.arrays[name] = np.ndarray(full_shape, dtype=dtype, buffer=block.buf)
        if _names is None:
            self.arrays["__refs__"][:] = 0
            self.arrays["__owners__"][:] = -1
            self.arrays["__count__"][:] = 0

    # -- pickling into other processes ------------------------------------------------------

    def __getstate__(self) -> Dict[str, Any]:
        return {"channels": self.channels, "size": self.size, "max_consumers": self.max_consumers,
                "names": {k: b.name for k, b in self._blocks.items()}, "lock": self._lock}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(state["channels"], state["size"], state["max_consumers"],  # type: ignore[misc]
                      _names=state["names"], _lock=state["lock"])

    # -- consumer API (3DB's contract) ----------------------------------------------------------

    def register(self) -> int:
        """Return a new consumer id (1-based). Call once per consumer, before reading."""
        with self._lock:
            count = int(self.arrays["__count__"][0])
            if count >= self.max_consumers:
                raise RuntimeError(f"result buffer accepts at most {self.max_consumers} registrations")
            self.arrays["__count__"][0] = count + 1
            self.arrays["__owners__"][count] = os.getpid()
        return count + 1

    def __getitem__(self, index: int) -> Dict[str, BufferArray]:
        """Return the channels of slot ``index`` as views into shared memory (no copy)."""
        return {name: self.arrays[name][index].view(BufferArray) for name in self.channels}

    def free(self, index: int, regid: int) -> None:
        """Release slot ``index`` for consumer ``regid``."""
        self.arrays["__refs__"][index, regid - 1] = 0

    # -- driver API -------------------------------------------------------------------------------

    @property
    def registered(self) -> int:
        return int(self.arrays["__count__"][0])

    def owner_pids(self) -> List[int]:
        """Return the process id of each registration, by regid - 1."""
        return [int(p) for p in self.arrays["__owners__"][: self.registered]]

    def try_reserve(self) -> int | None:
        """Reserve a free slot for a new result and mark it held by every registered consumer."""
        refs = self.arrays["__refs__"]
        # One vectorised pass over the reference counts. Slots are handed out in turn from
        # ``_next``, so every slot gets used and consumers receive slots in order.
        free = ~refs.any(axis=1)
        if self._reserved:
            free[list(self._reserved)] = False
        candidates = np.flatnonzero(free)
        if candidates.size == 0:
            return None
        after = candidates[candidates >= self._next]
        index = int(after[0] if after.size else candidates[0])
        self._reserved.add(index)
        self._next = (index + 1) % self.size
        refs[index, : self.registered] = 1
        return index

    def publish(self, index: int) -> None:
        """Hand a reserved slot to the consumers; it is reused once all of them free it."""
        self._reserved.discard(index)

    def release(self, index: int) -> None:
        """Give back a reserved slot that will not be published (its job failed)."""
        self.arrays["__refs__"][index, :] = 0
        self._reserved.discard(index)

    def held_by(self) -> Dict[int, int]:
        """Return, for each regid, how many published slots it has not freed."""
        refs = self.arrays["__refs__"]
        published = np.ones(self.size, dtype=bool)
        published[list(self._reserved)] = False
        return {regid + 1: int(refs[published, regid].sum()) for regid in range(self.registered)}

    def write(self, index: int, data: Mapping[str, Any]) -> None:
        """Copy ``data`` into slot ``index``; every key must be a declared channel."""
        for name, value in data.items():
            target = self.arrays[name]
            target[index] = value

    def close(self) -> None:
        """Detach from shared memory; the creating process also removes it."""
        self.arrays.clear()
        for block in self._blocks.values():
            try:
                block.close()
                if self._owner:
                    block.unlink()
            except (FileNotFoundError, BufferError):
                pass
        self._blocks.clear()


def _attach(name: str) -> shared_memory.SharedMemory:
    # Spawned processes share their parent's resource tracker, where the creator registered
    # the block; attaching registers it again (a set, so no change) and only the creator unlinks.
    return shared_memory.SharedMemory(name=name)


# Default limit on the buffer's shared memory when the size of a slot is known.
MAX_BUFFER_BYTES = 1 << 30


def slot_bytes(channels: ChannelDeclaration) -> int:
    """Return the bytes of shared memory that one slot of a buffer with ``channels`` uses."""
    return sum(int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize for shape, dtype in channels.values())


def buffer_size_for(workers: int, loggers: int, requested: int | None = None, bytes_per_slot: int = 0,
                    max_bytes: int = MAX_BUFFER_BYTES) -> int:
    """Return the number of slots: every worker's jobs in flight plus a backlog per logger.

    The backlog (16 results per logger) lets a logger fall behind for a moment, e.g. while the
    machine is busy with other work, without the driver waiting for a slot. With
    ``bytes_per_slot`` (see :func:`slot_bytes`), the slots are capped at ``max_bytes`` of
    shared memory, but never below two per worker plus two. ``requested`` (the config's
    ``logging.buffer_size``) overrides both.
    """
    if requested:
        return requested
    slots = max(8, 4 * workers + 16 * max(1, loggers))
    if bytes_per_slot > 0:
        slots = max(2 * workers + 2, min(slots, max_bytes // bytes_per_slot))
    return slots
