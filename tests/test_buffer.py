"""The shared-memory result buffer, used from real spawned processes."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from threedb.result_logging.buffer import BigChungusCyclicBuffer


def _consume(buffer, index, out):
    regid = buffer.register()
    out.put((regid, float(buffer[index]["loss"]), buffer[index]["rgb"].numpy().sum()))
    buffer.free(index, regid)


@pytest.fixture
def buffer():
    created = BigChungusCyclicBuffer({"rgb": ([3, 4, 4], "float32"), "loss": ([], "float32")},
                                     size=3, max_consumers=12)
    yield created
    created.close()


def test_other_process_reads_and_frees(buffer):
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    slot = None
    process = context.Process(target=_consume, args=(buffer, 0, out))
    buffer.write(0, {"rgb": np.ones((3, 4, 4), np.float32), "loss": 2.5})
    process.start()
    regid, loss, total = out.get(timeout=60)
    process.join(timeout=60)
    assert (regid, loss, total) == (1, 2.5, 48.0)
    slot = buffer.try_reserve()
    assert slot is not None


def test_slot_reused_only_after_every_consumer_frees(buffer):
    first, second = buffer.register(), buffer.register()
    slots = [buffer.try_reserve() for _ in range(3)]
    for slot in slots:
        buffer.publish(slot)
    assert buffer.try_reserve() is None
    buffer.free(slots[0], first)
    assert buffer.try_reserve() is None
    assert buffer.held_by() == {1: 2, 2: 3}
    buffer.free(slots[0], second)
    assert buffer.try_reserve() == slots[0]


def test_more_than_eight_consumers(buffer):
    ids = [buffer.register() for _ in range(12)]
    assert ids == list(range(1, 13))
    with pytest.raises(RuntimeError, match="at most 12"):
        buffer.register()
