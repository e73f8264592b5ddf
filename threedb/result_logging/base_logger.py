"""The logger interface (3DB's contract).

A logger runs in its own process. It is constructed as
``Logger(root_dir, result_buffer, config)``, calls ``result_buffer.register()`` once, and then
receives every result through ``log(item)``. ``item`` contains ``id``, ``environment``,
``model``, ``render_args`` (``{"Control.param": value}``), ``target`` and ``result_ix``;
the result's arrays are ``result_buffer[item["result_ix"]]``, and the logger must call
``result_buffer.free(item["result_ix"], regid)`` when done with them. ``log(None)`` marks the
end of the run, after which ``end()`` is called if the logger defines it.

A logger class that sets ``accepts_failures = True`` also receives failed jobs, as items
with ``status == "failed"``, an ``error`` message and no ``result_ix``.

A logger module exports its class as ``Logger`` and is named in the config's
``logging.logger_modules``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict

from threedb.result_logging.buffer import BigChungusCyclicBuffer


class BaseLogger(ABC):
    """Base class of result loggers."""

    accepts_failures = False

    def __init__(self, root_dir: str, result_buffer: BigChungusCyclicBuffer, config: Dict[str, Any]) -> None:
        self.root_dir = root_dir
        self.buffer = result_buffer
        self.config = config

    @abstractmethod
    def log(self, item: Dict[str, Any] | None) -> None:
        """Record one result, or finish when ``item`` is None."""

    def end(self) -> None:
        """Release resources after the last ``log(None)``; optional."""
