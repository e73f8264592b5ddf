"""Loggers that misbehave: one raises, one dies, one never frees its entries."""

import os
import signal

from threedb.result_logging.base_logger import BaseLogger


class _Counting(BaseLogger):
    def __init__(self, root_dir, result_buffer, config):
        super().__init__(root_dir, result_buffer, config)
        self.regid = self.buffer.register()
        self.count = 0

    def log(self, item):
        if item is None:
            return
        self.count += 1
        self.misbehave(item)

    def misbehave(self, item):
        raise NotImplementedError


class RaisingLogger(_Counting):
    def misbehave(self, item):
        if self.count == 2:
            raise RuntimeError("logger broke on its second item")
        self.buffer.free(item["result_ix"], self.regid)


class DyingLogger(_Counting):
    def misbehave(self, item):
        if self.count == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        self.buffer.free(item["result_ix"], self.regid)


class HoardingLogger(_Counting):
    def misbehave(self, item):
        pass  # never calls free()
