"""Load an output directory's results into a pandas DataFrame, once or incrementally."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from threedb.errors import OutputDirError

from ._records import normalize_record, parse_class_names, parse_targets
from ._tail import DetailsLogTail

logger = logging.getLogger(__name__)

DETAILS_LOG = "details.log"
CLASS_MAPS = "class_maps.json"
UID_TO_TARGETS = "uid_to_targets.json"
IMAGES_DIR = "images"

# Columns that every results frame has, in order. Control parameters come between
# LEADING_COLUMNS and TRAILING_COLUMNS, and load_results adds ``image_path`` at the end.
LEADING_COLUMNS = ("id", "model", "model_uid", "environment", "status", "error")
TRAILING_COLUMNS = (
    "is_correct",
    "loss",
    "top1",
    "top1_name",
    "prediction",
    "prediction_names",
    "confidence",
    "target",
    "target_names",
    "output_type",
)
IMAGE_PATH_COLUMN = "image_path"
RESULT_COLUMNS = frozenset(LEADING_COLUMNS + TRAILING_COLUMNS + (IMAGE_PATH_COLUMN,))


def parameter_columns(df: pd.DataFrame) -> list[str]:
    """Return the control parameter columns of a results frame, in column order."""
    return [column for column in df.columns if column not in RESULT_COLUMNS]


def validate_output_dir(output_dir: str | os.PathLike[str]) -> Path:
    """Return the output directory as a Path.

    Raises OutputDirError when it is not a directory or has no details.log.
    """
    path = Path(output_dir)
    if not path.is_dir():
        raise OutputDirError(f"output directory {str(path)!r} not found or not a directory")
    if not (path / DETAILS_LOG).is_file():
        raise OutputDirError(f"{str(path / DETAILS_LOG)!r} not found: is {str(path)!r} a threedb or 3DB output directory?")
    return path


def read_class_names(output_dir: Path) -> list[str | None]:
    """Read class_maps.json (index -> class name), or return an empty list when it is absent.

    Raises OutputDirError when the file is not valid JSON or has an unknown shape.
    """
    path = output_dir / CLASS_MAPS
    if not path.is_file():
        logger.info("%s not found, so predictions have no class names", path)
        return []
    try:
        return parse_class_names(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as error:
        raise OutputDirError(f"invalid class map {str(path)!r}: {error}") from None


def read_targets(output_dir: Path) -> dict[str, list[int]]:
    """Read uid_to_targets.json (model uid -> class indices), or return an empty dict when it is absent.

    Raises OutputDirError when the file is not valid JSON or has an unknown shape.
    """
    path = output_dir / UID_TO_TARGETS
    if not path.is_file():
        logger.info("%s not found, so targets come only from details.log lines", path)
        return {}
    try:
        return parse_targets(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as error:
        raise OutputDirError(f"invalid target map {str(path)!r}: {error}") from None


def class_name(class_names: Sequence[str | None], index: int) -> str | None:
    """Return the name of class ``index``, or None when the class map does not have it."""
    if 0 <= index < len(class_names):
        return class_names[index]
    return None


def build_frame(records: Iterable[Mapping[str, Any]], class_names: Sequence[str | None],
                targets_by_uid: Mapping[str, list[int]]) -> pd.DataFrame:
    """Build a results frame from raw details.log objects.

    Parameter columns are typed by normalize_parameter_column. Empty input gives
    an empty frame with the fixed columns.
    """
    rows: list[dict[str, Any]] = []
    for raw in records:
        record = normalize_record(raw, targets_by_uid)
        prediction = record["prediction"]
        row = {column: record[column] for column in LEADING_COLUMNS}
        row.update(record["parameters"])
        row["is_correct"] = record["is_correct"]
        row["loss"] = record["loss"]
        row["top1"] = prediction[0] if prediction else None
        row["top1_name"] = class_name(class_names, prediction[0]) if prediction else None
        row["prediction"] = prediction
        row["prediction_names"] = [class_name(class_names, index) for index in prediction]
        row["confidence"] = record["confidence"]
        row["target"] = record["target"]
        row["target_names"] = [class_name(class_names, index) for index in record["target"]]
        row["output_type"] = record["output_type"]
        rows.append(row)

    frame = pd.DataFrame(rows)
    return _finish_frame(frame)


def _finish_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Order the columns, add missing fixed columns and set their dtypes."""
    for column in LEADING_COLUMNS + TRAILING_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.Series([None] * len(frame), dtype=object)

    parameters = [column for column in frame.columns if column not in RESULT_COLUMNS]
    frame = frame[list(LEADING_COLUMNS) + parameters + list(TRAILING_COLUMNS)]

    frame = frame.astype({"is_correct": "boolean", "loss": "float64", "top1": "Int64"})
    for column in parameters:
        frame[column] = normalize_parameter_column(frame[column])
    return frame.reset_index(drop=True)


def normalize_parameter_column(series: pd.Series) -> pd.Series:
    """Type a parameter column: numeric when every present value is a number or a numeric string.

    Numeric columns become float64. Any other column, booleans included, becomes
    strings (object dtype) with None for missing values, so that it is grouped as
    categories rather than binned.
    """
    if pd.api.types.is_float_dtype(series) or (
        pd.api.types.is_integer_dtype(series) and not pd.api.types.is_bool_dtype(series)
    ):
        return series.astype("float64")

    present = series.dropna()
    has_bool = present.map(lambda value: isinstance(value, (bool, np.bool_))).any()
    if not has_bool:
        numeric = pd.to_numeric(present, errors="coerce")
        if numeric.notna().all():
            return pd.to_numeric(series, errors="coerce").astype("float64")

    as_text = [None if _is_missing(value) else str(value) for value in series]
    return pd.Series(as_text, index=series.index, dtype=object)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def scan_image_files(images_dir: Path, ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """Map each render id to its image files, as {channel: file name}.

    Image files are named ``<id>_<channel>.<ext>`` (``3f2a_rgb.png``,
    ``3f2a_depth.npy``). When a channel has both a .png and another file, the
    .png wins, because it is the one a browser can show.
    """
    known = set(ids)
    files: dict[str, dict[str, str]] = {}
    if not images_dir.is_dir():
        return files
    with os.scandir(images_dir) as entries:
        for entry in entries:
            stem, dot, extension = entry.name.rpartition(".")
            if not dot:
                continue
            for render_id, channel in _split_image_stem(stem):
                if render_id in known:
                    channels = files.setdefault(render_id, {})
                    if channel not in channels or extension.lower() == "png":
                        channels[channel] = entry.name
                    break
    return files


def _split_image_stem(stem: str) -> list[tuple[str, str]]:
    """Return the possible (id, channel) splits of ``<id>_<channel>``, first split first."""
    first_id, _, first_channel = stem.partition("_")
    last_id, _, last_channel = stem.rpartition("_")
    splits = [(first_id, first_channel)]
    if last_id != first_id:
        splits.append((last_id, last_channel))
    return [(render_id, channel) for render_id, channel in splits if render_id and channel]


class ResultsTable:
    """The results of one output directory, refreshed as details.log grows.

    The frame is replaced, never changed in place, so that a caller that keeps
    a reference gets a consistent snapshot while another thread calls refresh.
    The version goes up by one each time rows change. Read both at once with
    current(), because two separate reads can straddle a refresh.
    """

    def __init__(self, output_dir: str | os.PathLike[str]) -> None:
        self.output_dir = validate_output_dir(output_dir)
        self.class_names = read_class_names(self.output_dir)
        self.targets_by_uid = read_targets(self.output_dir)
        self.tail = DetailsLogTail(self.output_dir / DETAILS_LOG)
        self._current = (build_frame([], self.class_names, self.targets_by_uid), 0)
        self._lock = threading.Lock()

    def current(self) -> tuple[pd.DataFrame, int]:
        """Return the frame and its version, read together."""
        return self._current

    @property
    def frame(self) -> pd.DataFrame:
        """The latest results frame (see load_results for its columns)."""
        return self._current[0]

    @property
    def version(self) -> int:
        """Number of refreshes that changed the rows."""
        return self._current[1]

    def refresh(self) -> bool:
        """Read the lines appended to details.log since the last call and return whether rows changed.

        Returns False at once when another thread is refreshing, and when
        details.log cannot be read (the error is logged).
        """
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if not self.tail.has_new_data():
                return False
            try:
                batch = self.tail.read_new()
            except OSError as error:
                logger.warning("failed to read %s: %s", self.tail.path, error)
                return False
            if not batch.records and not batch.reset:
                return False
            new_rows = build_frame(batch.records, self.class_names, self.targets_by_uid)
            frame, version = self._current
            combined = new_rows if batch.reset else concat_frames(frame, new_rows)
            self._current = (combined, version + 1)
            logger.debug("read %d new results from %s (%d in total)", len(new_rows), self.tail.path, len(combined))
            return True
        finally:
            self._lock.release()


def concat_frames(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Append ``new`` rows to ``old`` and retype parameter columns whose type the new rows changed."""
    if old.empty:
        return new
    if new.empty:
        return old
    combined = pd.concat([old, new], ignore_index=True, sort=False)
    parameters = parameter_columns(combined)
    for column in parameters:
        same_type = column in old.columns and column in new.columns and old[column].dtype == new[column].dtype
        if not same_type:
            combined[column] = normalize_parameter_column(combined[column])
    return combined[list(LEADING_COLUMNS) + parameters + list(TRAILING_COLUMNS)]


def load_results(output_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """Load every render of an output directory into a DataFrame, one row per details.log line.

    Columns, in order:

    - ``id``, ``model`` (file name), ``model_uid`` (file stem), ``environment``
      (file name), ``status`` ("ok" or the failure status), ``error`` (message of
      a failed job, else None).
    - One column per control parameter, named ``Control.param`` (for example
      ``OrientationControl.rotation_z``), plus any top-level key that details.log
      does not reserve. A parameter is float64 when all its values are numbers or
      numeric strings, else strings (object dtype).
    - ``is_correct`` (nullable boolean, NA for failed jobs), ``loss`` (float64,
      NaN for failed jobs).
    - ``top1`` (Int64 class index), ``top1_name``, ``prediction`` (list of class
      indices, best first), ``prediction_names``, ``confidence`` (list of floats
      or None), ``target`` (list of acceptable class indices), ``target_names``,
      ``output_type``.
    - ``image_path``: the RGB image relative to ``output_dir`` (``images/<id>_rgb.png``),
      None when the image logger did not write one.

    Lines that are not JSON objects with an ``id`` are skipped with a warning.
    Raises OutputDirError when the directory or its details.log is missing, or
    when class_maps.json or uid_to_targets.json is invalid.
    """
    table = ResultsTable(output_dir)
    table.refresh()
    frame = table.frame.copy()

    image_files = scan_image_files(table.output_dir / IMAGES_DIR, frame["id"])
    frame[IMAGE_PATH_COLUMN] = [
        f"{IMAGES_DIR}/{image_files[render_id]['rgb']}" if "rgb" in image_files.get(render_id, {}) else None
        for render_id in frame["id"]
    ]
    logger.info("loaded %d results from %s", len(frame), table.tail.path)
    return frame
