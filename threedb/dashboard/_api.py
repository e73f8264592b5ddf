"""JSON endpoints of the dashboard, computed with pandas on the server side.

Every response has a bounded size, whatever the number of results. The
gallery is paged and plots have at most MAX_BINS groups per axis. Long lists
of categories, models or environments are cut, with a count of what was left out.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import quote

import numpy as np
import pandas as pd

from threedb.analysis import (
    ResultsTable,
    accuracy_by_model_environment,
    accuracy_by_parameter,
    accuracy_by_parameter_pair,
    is_numeric_parameter,
    keep_top_categories,
    parameter_columns,
    summarize_results,
)

from ._files import ForbiddenPathError, find_channel_files, resolve_inside
from ._query import Query, QueryError, closest_choice_hint, describe_choices

MAX_BINS = 50
MAX_HEATMAP_BINS = 30
DEFAULT_BINS = 10
DEFAULT_HEATMAP_BINS = 5
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 48
# Maximum categories per parameter, (model, environment) rows, and model or environment names in the overview.
MAX_LISTED_CATEGORIES = 100
MAX_LISTED_PAIRS = 500
MAX_LISTED_NAMES = 1000

FILTER_KEYS = ("model", "environment", "correct", "range", "category")
CORRECT_CHOICES = ("any", "true", "false")
SORT_CHOICES = ("loss_desc", "loss_asc", "order", "order_desc")

RANGE_FORMAT = "NAME:MIN:MAX, where NAME is a numeric parameter and MIN and MAX are finite numbers or empty"
CATEGORY_FORMAT = "NAME:VALUE, where NAME is a categorical parameter and VALUE one of its values"


class NotFoundError(LookupError):
    """Raised for a render id, channel or file that does not exist. The server sends it as a 404 response."""


@dataclass
class ParameterInfo:
    """Summary of one parameter column: kind, range and (for categories) the values seen."""

    name: str
    kind: str
    distinct: int
    minimum: float | None = None
    maximum: float | None = None
    categories: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the overview's JSON form, with at most MAX_LISTED_CATEGORIES categories."""
        return {
            "name": self.name,
            "kind": self.kind,
            "distinct": self.distinct,
            "min": self.minimum,
            "max": self.maximum,
            "categories": self.categories[:MAX_LISTED_CATEGORIES],
            "categories_omitted": max(0, len(self.categories) - MAX_LISTED_CATEGORIES),
        }


@dataclass
class Snapshot:
    """One consistent version of the results and the facts derived from it."""

    frame: pd.DataFrame
    version: int
    parameters: dict[str, ParameterInfo]
    models: list[str]
    environments: list[str]


def describe_parameter(frame: pd.DataFrame, name: str) -> ParameterInfo:
    """Summarize one parameter column of ``frame``."""
    series = frame[name]
    present = series.dropna()
    if is_numeric_parameter(series):
        finite = present[np.isfinite(present.to_numpy(dtype=float))]
        return ParameterInfo(
            name=name,
            kind="numeric",
            distinct=int(finite.nunique()),
            minimum=float(finite.min()) if len(finite) else None,
            maximum=float(finite.max()) if len(finite) else None,
        )
    categories = sorted({str(value) for value in present})
    return ParameterInfo(name=name, kind="categorical", distinct=len(categories), categories=categories)


def build_snapshot(frame: pd.DataFrame, version: int) -> Snapshot:
    """Derive the parameter summaries and the model and environment lists of one frame version."""
    parameters = {name: describe_parameter(frame, name) for name in parameter_columns(frame)}
    models = sorted(frame["model"].dropna().unique().tolist())
    environments = sorted(frame["environment"].dropna().unique().tolist())
    return Snapshot(frame, version, parameters, models, environments)


class ResultsApi:
    """The dashboard's JSON endpoints over a live ResultsTable.

    Each endpoint takes the raw query string and returns a JSON-ready dict. Invalid
    queries raise QueryError (400) and unknown ids raise NotFoundError (404).
    """

    def __init__(self, table: ResultsTable) -> None:
        self.table = table
        self._snapshot: Snapshot | None = None
        self._snapshot_lock = threading.Lock()
        self.routes: dict[str, Callable[[str], dict[str, Any]]] = {
            "/api/overview": self.overview,
            "/api/accuracy": self.accuracy,
            "/api/heatmap": self.heatmap,
            "/api/renders": self.renders,
            "/api/render": self.render_detail,
        }

    def snapshot(self) -> Snapshot:
        """Return the derived facts for the table's current frame, computed once per version."""
        frame, version = self.table.current()
        with self._snapshot_lock:
            if self._snapshot is None or self._snapshot.version != version:
                self._snapshot = build_snapshot(frame, version)
            return self._snapshot

    def overview(self, query_string: str) -> dict[str, Any]:
        """Summarize all results: counts, overall accuracy, accuracy per model x environment, parameters."""
        Query(query_string, allowed=())
        snapshot = self.snapshot()
        pairs = accuracy_by_model_environment(snapshot.frame)
        return {
            "output_dir": str(self.table.output_dir),
            "version": snapshot.version,
            "summary": summarize_results(snapshot.frame),
            "by_model_environment": pairs.head(MAX_LISTED_PAIRS).to_dict(orient="records"),
            "by_model_environment_omitted": max(0, len(pairs) - MAX_LISTED_PAIRS),
            "models": snapshot.models[:MAX_LISTED_NAMES],
            "environments": snapshot.environments[:MAX_LISTED_NAMES],
            "parameters": [info.to_json() for info in snapshot.parameters.values()],
            "log": {"bytes_read": self.table.tail.offset, "malformed_lines": self.table.tail.malformed_lines},
        }

    def accuracy(self, query_string: str) -> dict[str, Any]:
        """Compute accuracy with Wilson intervals per bin or category of one parameter, after filters."""
        query = Query(query_string, allowed=("parameter", "bins", *FILTER_KEYS))
        snapshot = self.snapshot()
        parameter = parse_parameter(query, "parameter", snapshot)
        bins = query.integer("bins", DEFAULT_BINS, 1, MAX_BINS)
        frame = apply_filters(snapshot, query)

        frame, omitted = keep_top_categories(frame, parameter, MAX_BINS)
        groups = accuracy_by_parameter(frame, parameter, bins=bins)
        return {
            "parameter": parameter,
            "kind": snapshot.parameters[parameter].kind,
            "bins": bins,
            "filtered_renders": len(frame),
            "groups": groups.to_dict(orient="records"),
            "omitted_categories": omitted,
        }

    def heatmap(self, query_string: str) -> dict[str, Any]:
        """Compute accuracy over the groups of two parameters (x: columns, y: rows), after filters."""
        query = Query(query_string, allowed=("x", "y", "bins", *FILTER_KEYS))
        snapshot = self.snapshot()
        x = parse_parameter(query, "x", snapshot)
        y = parse_parameter(query, "y", snapshot)
        bins = query.integer("bins", DEFAULT_HEATMAP_BINS, 1, MAX_HEATMAP_BINS)
        frame = apply_filters(snapshot, query)

        frame, omitted_x = keep_top_categories(frame, x, MAX_HEATMAP_BINS)
        frame, omitted_y = keep_top_categories(frame, y, MAX_HEATMAP_BINS)
        pairs = accuracy_by_parameter_pair(frame, y, x, bins=bins)
        x_labels = list(dict.fromkeys(pairs["column_label"]))
        y_labels = list(dict.fromkeys(pairs["row_label"]))
        cells = pairs[["count", "correct", "accuracy", "ci_low", "ci_high"]].to_dict(orient="records")
        width = len(x_labels)
        return {
            "x": x,
            "y": y,
            "bins": bins,
            "filtered_renders": len(frame),
            "x_labels": x_labels,
            "y_labels": y_labels,
            "cells": [cells[row * width:(row + 1) * width] for row in range(len(y_labels))],
            "omitted_categories": {"x": omitted_x, "y": omitted_y},
        }

    def renders(self, query_string: str) -> dict[str, Any]:
        """Return one page of the filtered renders, sorted, with thumbnail URLs."""
        query = Query(query_string, allowed=("sort", "offset", "limit", *FILTER_KEYS))
        snapshot = self.snapshot()
        sort = query.choice("sort", SORT_CHOICES, default="loss_desc")
        limit = query.integer("limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        offset = query.integer("offset", 0, 0, 10**9)
        frame = apply_filters(snapshot, query)

        page = sort_renders(frame, sort).iloc[offset:offset + limit]
        items = [self._gallery_item(row) for row in page.itertuples(index=False)]
        return {"total": len(frame), "offset": offset, "limit": limit, "sort": sort, "items": items}

    def _gallery_item(self, row: Any) -> dict[str, Any]:
        render_id = row.id
        return {
            "id": render_id,
            "model": row.model,
            "environment": row.environment,
            "status": row.status,
            "is_correct": None if pd.isna(row.is_correct) else bool(row.is_correct),
            "loss": row.loss,
            "top1": None if pd.isna(row.top1) else int(row.top1),
            "top1_name": row.top1_name,
            "target_names": row.target_names,
            "image_url": self._image_url(f"images/{render_id}_rgb.png"),
        }

    def _image_url(self, relative: str) -> str | None:
        try:
            if resolve_inside(self.table.output_dir, relative) is None:
                return None
        except ForbiddenPathError:
            return None
        return "/files/" + quote(relative)

    def render_detail(self, query_string: str) -> dict[str, Any]:
        """Return everything about one render: parameters, top predictions with names, image channels."""
        query = Query(query_string, allowed=("id",))
        render_id = query.required("id", "a render id from /api/renders")
        frame = self.snapshot().frame
        matches = frame.index[frame["id"] == render_id]
        if len(matches) == 0:
            raise NotFoundError(f"render {render_id!r} not found in details.log")
        row = frame.loc[matches[-1]]

        return {
            "id": render_id,
            "model": row["model"],
            "model_uid": row["model_uid"],
            "environment": row["environment"],
            "status": row["status"],
            "error": row["error"],
            "is_correct": None if pd.isna(row["is_correct"]) else bool(row["is_correct"]),
            "loss": row["loss"],
            "output_type": row["output_type"],
            "parameters": [{"name": name, "value": row[name]} for name in parameter_columns(frame)],
            "predictions": prediction_rows(row),
            "targets": [{"class_index": index, "class_name": name}
                        for index, name in zip(row["target"], row["target_names"])],
            "channels": self._channels(render_id),
        }

    def _channels(self, render_id: str) -> list[dict[str, str]]:
        files = find_channel_files(self.table.output_dir, render_id)
        order = sorted(files, key=lambda channel: (channel != "rgb", channel))
        channels = []
        for channel in order:
            relative = files[channel]
            if relative.lower().endswith(".npy"):
                url = f"/api/channel?id={quote(render_id)}&name={quote(channel)}"
            else:
                url = "/files/" + quote(relative)
            channels.append({"name": channel, "file": relative, "url": url})
        return channels

    def channel_file(self, query_string: str) -> tuple[str, str]:
        """Return (channel name, path relative to the output directory) of a .npy channel to convert."""
        query = Query(query_string, allowed=("id", "name"))
        render_id = query.required("id", "a render id from /api/renders")
        channel = query.required("name", "a channel name from /api/render, such as 'depth'")
        files = find_channel_files(self.table.output_dir, render_id)
        npy_name = f"images/{render_id}_{channel}.npy"
        if resolve_inside(self.table.output_dir, npy_name) is None:
            available = ", ".join(sorted(files)) or "none"
            raise NotFoundError(f"no .npy file for channel {channel!r} of render {render_id!r} (channels: {available})")
        return channel, npy_name


def prediction_rows(row: pd.Series) -> list[dict[str, Any]]:
    """List a render's predictions best first, with class names, confidences and target flags."""
    confidence = row["confidence"] if isinstance(row["confidence"], list) else []
    targets = set(row["target"])
    return [
        {
            "rank": rank + 1,
            "class_index": index,
            "class_name": name,
            "confidence": confidence[rank] if rank < len(confidence) else None,
            "is_target": index in targets,
        }
        for rank, (index, name) in enumerate(zip(row["prediction"], row["prediction_names"]))
    ]


def parse_parameter(query: Query, name: str, snapshot: Snapshot) -> str:
    """Return the parameter named by query field ``name``, or raise QueryError that lists the valid ones."""
    valid = list(snapshot.parameters)
    expected = f"one of the parameters {describe_choices(valid)}"
    value = query.required(name, expected)
    if value not in snapshot.parameters:
        raise QueryError(name, value, expected + closest_choice_hint(value, valid))
    return value


def apply_filters(snapshot: Snapshot, query: Query) -> pd.DataFrame:
    """Return the rows of the snapshot that match the query's filters.

    Filters: ``model`` and ``environment`` (exact file name), ``correct``
    (``any``, ``true``: correct renders, ``false``: misclassified renders),
    repeatable ``range=NAME:MIN:MAX`` (inclusive, either bound may be empty)
    and repeatable ``category=NAME:VALUE``. Filters combine with AND.
    """
    frame = snapshot.frame
    mask = np.ones(len(frame), dtype=bool)

    model = query.choice("model", snapshot.models)
    if model is not None:
        mask &= (frame["model"] == model).to_numpy()
    environment = query.choice("environment", snapshot.environments)
    if environment is not None:
        mask &= (frame["environment"] == environment).to_numpy()

    correct = query.choice("correct", CORRECT_CHOICES, default="any")
    if correct != "any":
        verdict = frame["is_correct"]
        wanted = verdict == (correct == "true")
        mask &= wanted.fillna(False).to_numpy(dtype=bool)

    for text in query.many("range"):
        name, low, high = parse_range(text, snapshot)
        values = frame[name].to_numpy(dtype=float, na_value=np.nan)
        if low is not None:
            mask &= values >= low
        if high is not None:
            mask &= values <= high

    for text in query.many("category"):
        name, value = parse_category(text, snapshot)
        mask &= (frame[name] == value).fillna(False).to_numpy(dtype=bool)

    return frame[mask]


def parse_range(text: str, snapshot: Snapshot) -> tuple[str, float | None, float | None]:
    """Parse ``NAME:MIN:MAX`` into (name, min, max), with None for an empty bound."""
    parts = text.rsplit(":", 2)
    if len(parts) != 3:
        raise QueryError("range", text, RANGE_FORMAT)
    name, low_text, high_text = parts
    info = snapshot.parameters.get(name)
    if info is None or info.kind != "numeric":
        numeric = [parameter for parameter, info in snapshot.parameters.items() if info.kind == "numeric"]
        raise QueryError("range", text, f"{RANGE_FORMAT}. Numeric parameters: {describe_choices(numeric)}")
    low = _parse_bound(text, low_text)
    high = _parse_bound(text, high_text)
    if low is not None and high is not None and low > high:
        raise QueryError("range", text, f"{RANGE_FORMAT}, with MIN <= MAX")
    return name, low, high


def _parse_bound(text: str, bound: str) -> float | None:
    if bound.strip() == "":
        return None
    try:
        value = float(bound)
    except ValueError:
        raise QueryError("range", text, RANGE_FORMAT) from None
    if not math.isfinite(value):
        raise QueryError("range", text, RANGE_FORMAT)
    return value


def parse_category(text: str, snapshot: Snapshot) -> tuple[str, str]:
    """Parse ``NAME:VALUE`` into (name, value), where NAME must be a categorical parameter."""
    name, separator, value = text.partition(":")
    info = snapshot.parameters.get(name)
    if not separator or info is None or info.kind != "categorical":
        categorical = [parameter for parameter, info in snapshot.parameters.items() if info.kind == "categorical"]
        raise QueryError("category", text, f"{CATEGORY_FORMAT}. Categorical parameters: {describe_choices(categorical)}")
    if value not in info.categories:
        raise QueryError("category", text, f"a value of {name!r}: {describe_choices(info.categories)}")
    return name, value


def sort_renders(frame: pd.DataFrame, sort: str) -> pd.DataFrame:
    """Order renders for the gallery: by loss (NaN last) or by their order in details.log."""
    if sort == "order":
        return frame
    if sort == "order_desc":
        return frame.iloc[::-1]
    ascending = sort == "loss_asc"
    return frame.sort_values("loss", ascending=ascending, na_position="last", kind="stable")
