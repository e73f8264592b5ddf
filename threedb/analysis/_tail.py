"""Incremental reading of a details.log file that a run may still be writing."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Maximum malformed lines logged one by one per read. The rest of a read's malformed lines are only counted.
MAX_LOGGED_MALFORMED_LINES = 5


@dataclass
class TailBatch:
    """Objects read by one call of DetailsLogTail.read_new.

    ``reset`` is true when the file was truncated or replaced, so that ``records``
    start again from the beginning of the new file and earlier rows are stale.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    reset: bool = False


class DetailsLogTail:
    """Reader of the JSON lines of details.log that remembers its byte offset.

    Each read_new call parses only the bytes appended since the last call. A
    last line without its newline is parsed only when it is already a complete
    JSON object, so a line that a writer is halfway through is left for a later
    call. Malformed lines are skipped, logged and counted in ``malformed_lines``.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self.malformed_lines = 0
        self._file_id: tuple[int, int] | None = None
        self._malformed_at_read_start = 0

    def has_new_data(self) -> bool:
        """Check with one stat call whether the file grew, shrank or was replaced since the last read."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (stat.st_dev, stat.st_ino) != self._file_id or stat.st_size != self.offset

    def read_new(self) -> TailBatch:
        """Parse the complete lines appended since the last call.

        Raises FileNotFoundError when details.log does not exist.
        """
        batch = TailBatch()
        with open(self.path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            file_id = (stat.st_dev, stat.st_ino)
            if self._file_id is not None and (file_id != self._file_id or stat.st_size < self.offset):
                logger.warning("%s was truncated or replaced, so it is read again from the start", self.path)
                self.offset = 0
                batch.reset = True
            self._file_id = file_id
            handle.seek(self.offset)
            data = handle.read()

        consumed = self._parse_lines(data, batch.records)
        self.offset += consumed
        return batch

    def _parse_lines(self, data: bytes, records: list[dict[str, Any]]) -> int:
        """Append the objects parsed from ``data`` to ``records`` and return the bytes consumed."""
        self._malformed_at_read_start = self.malformed_lines
        position = 0
        while position < len(data):
            end = data.find(b"\n", position)
            if end == -1:
                tail = self._parse_unterminated(data[position:])
                if tail is None:
                    break
                records.append(tail)
                position = len(data)
                break
            line = data[position:end]
            record = self._parse_line(line, self.offset + position)
            if record is not None:
                records.append(record)
            position = end + 1

        skipped = self.malformed_lines - self._malformed_at_read_start
        if skipped > MAX_LOGGED_MALFORMED_LINES:
            logger.warning(
                "skipped %d malformed lines in %s, %d of them not logged one by one",
                skipped,
                self.path,
                skipped - MAX_LOGGED_MALFORMED_LINES,
            )
        return position

    def _parse_line(self, line: bytes, byte_offset: int) -> dict[str, Any] | None:
        if not line.strip():
            return None
        try:
            record = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            self._report_malformed(byte_offset, f"invalid JSON ({error})")
            return None
        if not isinstance(record, dict):
            self._report_malformed(byte_offset, f"expected a JSON object, got {type(record).__name__}")
            return None
        if "id" not in record:
            self._report_malformed(byte_offset, 'the object has no "id" key')
            return None
        return record

    def _parse_unterminated(self, fragment: bytes) -> dict[str, Any] | None:
        """Parse a last line without newline if it is a complete object, else return None (half-written line)."""
        if not fragment.strip():
            return None
        try:
            record = json.loads(fragment)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        if isinstance(record, dict) and "id" in record:
            return record
        return None

    def _report_malformed(self, byte_offset: int, reason: str) -> None:
        self.malformed_lines += 1
        if self.malformed_lines - self._malformed_at_read_start <= MAX_LOGGED_MALFORMED_LINES:
            logger.warning("skipping malformed line at byte %d of %s: %s", byte_offset, self.path, reason)
