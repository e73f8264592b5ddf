"""Accuracy statistics over a results frame: overall, per parameter, per parameter pair, worst renders."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Sequence, Union

import numpy as np
import pandas as pd

from threedb.errors import ThreeDBError

from ._frame import parameter_columns

# ``bins`` argument: a bin count, explicit bin edges, or None for one group per distinct value.
Bins = Union[int, Sequence[float], None]

GROUP_COLUMNS = ("label", "value", "bin_left", "bin_right")
COUNT_COLUMNS = ("count", "correct", "accuracy", "ci_low", "ci_high")


class AnalysisError(ThreeDBError, ValueError):
    """Raised for an invalid analysis request, such as an unknown parameter or bad bins."""


def wilson_interval(correct: np.ndarray | float, total: np.ndarray | float,
                    confidence: float = 0.95) -> tuple[Any, Any]:
    """Compute the Wilson score interval of a binomial proportion.

    ``correct`` and ``total`` are counts (scalars or arrays of one shape), and
    ``confidence`` is the two-sided level in (0, 1). Returns ``(low, high)`` as
    floats for scalar counts and float arrays otherwise, NaN where ``total`` is 0. Unlike the
    normal approximation, the interval stays inside [0, 1] and is not empty at 0 or ``total``
    successes.
    """
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence must be between 0 and 1 (exclusive), got {confidence!r}")
    correct = np.asarray(correct, dtype=float)
    total = np.asarray(total, dtype=float)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)

    with np.errstate(divide="ignore", invalid="ignore"):
        proportion = correct / total
        denominator = 1 + z**2 / total
        center = (proportion + z**2 / (2 * total)) / denominator
        half_width = z / denominator * np.sqrt(proportion * (1 - proportion) / total + z**2 / (4 * total**2))
        # The exact bounds at 0 and at ``total`` successes are 0 and 1, which rounding misses by ~1e-17.
        low = np.where(correct <= 0, 0.0, np.clip(center - half_width, 0.0, 1.0))
        high = np.where(correct >= total, 1.0, np.clip(center + half_width, 0.0, 1.0))
        low = np.where(total > 0, low, np.nan)
        high = np.where(total > 0, high, np.nan)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def scored_results(df: pd.DataFrame) -> pd.DataFrame:
    """Return the rows that have a correctness verdict (failed jobs excluded)."""
    return df[df["is_correct"].notna()]


def _count_table(correct: np.ndarray, count: np.ndarray, confidence: float) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.where(count > 0, correct / count, np.nan)
    low, high = wilson_interval(correct, count, confidence)
    return {"count": count.astype(int), "correct": correct.astype(int), "accuracy": accuracy,
            "ci_low": low, "ci_high": high}


def summarize_results(df: pd.DataFrame, confidence: float = 0.95) -> dict[str, float | int]:
    """Count renders and compute overall accuracy.

    Returns a dict with ``renders`` (all rows), ``failed`` (rows whose status is
    not "ok"), ``scored`` (rows with a verdict), ``correct``, ``accuracy`` (NaN
    when nothing is scored) and the Wilson interval ``ci_low`` and ``ci_high``.
    """
    scored = scored_results(df)
    correct = int(scored["is_correct"].sum())
    total = len(scored)
    table = _count_table(np.array([correct]), np.array([total]), confidence)
    return {
        "renders": len(df),
        "failed": int((df["status"] != "ok").sum()),
        "scored": total,
        "correct": correct,
        "accuracy": float(table["accuracy"][0]),
        "ci_low": float(table["ci_low"][0]),
        "ci_high": float(table["ci_high"][0]),
    }


def accuracy_by_model_environment(df: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Compute accuracy per (model, environment) pair.

    Returns one row per pair that has any render, sorted by model then
    environment, with ``renders`` and ``failed`` counts besides the columns of
    accuracy_by_parameter's count part (``count`` is the number scored).
    """
    columns = ["model", "environment", "renders", "failed", *COUNT_COLUMNS]
    if df.empty:
        return pd.DataFrame(columns=columns)
    keys = df[["model", "environment"]]
    grouped = pd.DataFrame({
        "model": keys["model"],
        "environment": keys["environment"],
        "failed": (df["status"] != "ok").astype(int),
        "scored": df["is_correct"].notna().astype(int),
        "correct": df["is_correct"].fillna(False).astype(int),
    }).groupby(["model", "environment"], sort=True)
    sums = grouped.sum()
    renders = grouped.size()

    table = _count_table(sums["correct"].to_numpy(), sums["scored"].to_numpy(), confidence)
    result = pd.DataFrame({
        "model": sums.index.get_level_values("model"),
        "environment": sums.index.get_level_values("environment"),
        "renders": renders.to_numpy(),
        "failed": sums["failed"].to_numpy(),
        **table,
    })
    return result[columns]


def check_parameter(df: pd.DataFrame, parameter: str) -> None:
    """Raise AnalysisError naming the valid parameters when ``parameter`` is not a parameter column."""
    valid = parameter_columns(df)
    if parameter in valid:
        return
    suggestion = difflib.get_close_matches(parameter, valid, n=1)
    hint = f" Did you mean {suggestion[0]!r}?" if suggestion else ""
    raise AnalysisError(f"unknown parameter {parameter!r}.{hint} Valid parameters: {', '.join(valid) or '(none)'}")


def is_numeric_parameter(series: pd.Series) -> bool:
    """Return whether a parameter column is binned as numbers (True) or grouped as categories."""
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


@dataclass
class Grouping:
    """Assignment of each row to a group of one parameter's values.

    ``codes`` has one int per row: the group index, or -1 when the row's value is
    missing or outside the bins. ``groups`` has one row per group with
    GROUP_COLUMNS: ``label`` (text), ``value`` (the category, the distinct
    number, or the bin center), ``bin_left`` and ``bin_right`` (bin edges,
    equal to ``value`` for a distinct number, NaN for a category).
    """

    codes: np.ndarray
    groups: pd.DataFrame


def group_parameter(series: pd.Series, bins: Bins = 10) -> Grouping:
    """Group a parameter's values into bins (numbers) or categories (anything else).

    For a numeric column, ``bins`` may be:

    - an int N: N equal-width bins from the minimum to the maximum value, each
      ``[left, right)`` except the last, which is ``[left, right]``. When the
      column has at most N distinct values, each distinct value is its own group
      instead, so that a parameter sampled from a few values gets no empty bins.
    - a sequence of increasing edges: the same half-open bins between them.
      Values outside the edges get code -1.
    - None: one group per distinct value.

    Categories are sorted as text and ignore ``bins``.
    """
    if not is_numeric_parameter(series):
        return _group_categories(series)

    values = series.to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(values)
    distinct = np.unique(values[finite])

    if bins is None or (isinstance(bins, (int, np.integer)) and len(distinct) <= bins):
        return _group_distinct_values(values, finite, distinct)
    if isinstance(bins, (int, np.integer)):
        if bins < 1:
            raise AnalysisError(f"bins must be at least 1, got {bins}")
        edges = np.linspace(distinct[0], distinct[-1], int(bins) + 1)
    else:
        edges = np.asarray(bins, dtype=float)
        if edges.ndim != 1 or len(edges) < 2 or not np.all(np.diff(edges) > 0):
            raise AnalysisError(f"bin edges must be at least 2 strictly increasing numbers, got {list(bins)!r}")
    return _group_bins(values, finite, edges)


def _group_categories(series: pd.Series) -> Grouping:
    text = series.astype(object).where(series.notna(), None)
    categories = sorted({str(value) for value in text if value is not None})
    codes = pd.Categorical([None if value is None else str(value) for value in text], categories=categories).codes
    groups = pd.DataFrame({"label": categories, "value": categories,
                           "bin_left": np.nan, "bin_right": np.nan}, columns=list(GROUP_COLUMNS))
    return Grouping(np.asarray(codes, dtype=int), groups)


def _group_distinct_values(values: np.ndarray, finite: np.ndarray, distinct: np.ndarray) -> Grouping:
    codes = np.full(len(values), -1, dtype=int)
    codes[finite] = np.searchsorted(distinct, values[finite])
    groups = pd.DataFrame({"label": [format_number(value) for value in distinct], "value": distinct,
                           "bin_left": distinct, "bin_right": distinct})
    return Grouping(codes, groups)


def _group_bins(values: np.ndarray, finite: np.ndarray, edges: np.ndarray) -> Grouping:
    bin_count = len(edges) - 1
    codes = np.full(len(values), -1, dtype=int)
    inside = finite & (values >= edges[0]) & (values <= edges[-1])
    # side="right" puts a value equal to an inner edge in the bin that starts there.
    codes[inside] = np.minimum(np.searchsorted(edges, values[inside], side="right") - 1, bin_count - 1)

    left, right = edges[:-1], edges[1:]
    labels = [f"[{format_number(a)}, {format_number(b)}{']' if i == bin_count - 1 else ')'}"
              for i, (a, b) in enumerate(zip(left, right))]
    groups = pd.DataFrame({"label": labels, "value": (left + right) / 2, "bin_left": left, "bin_right": right})
    return Grouping(codes, groups)


def format_number(value: float) -> str:
    """Format a parameter value or bin edge with 4 significant digits (1.5708 -> "1.571")."""
    if math.isnan(value):
        return "nan"
    text = f"{value:.4g}"
    return "0" if text == "-0" else text


def keep_top_categories(df: pd.DataFrame, parameter: str, limit: int) -> tuple[pd.DataFrame, int]:
    """Keep only the rows of the ``limit`` most frequent values of a categorical parameter.

    Ties in frequency are broken by value, as text. Returns the rows kept and
    the number of values left out. A numeric parameter is returned unchanged with 0.
    """
    check_parameter(df, parameter)
    if is_numeric_parameter(df[parameter]):
        return df, 0
    counts = df[parameter].dropna().astype(str).value_counts()
    if len(counts) <= limit:
        return df, 0
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    top_values = {value for value, _ in ranked[:limit]}
    return df[df[parameter].astype(str).isin(top_values)], len(counts) - limit


def accuracy_by_parameter(df: pd.DataFrame, parameter: str, bins: Bins = 10,
                          confidence: float = 0.95) -> pd.DataFrame:
    """Compute accuracy for each bin or category of one parameter.

    Only scored rows count. Returns one row per group, in group order, with
    GROUP_COLUMNS (see Grouping), then ``count`` (scored renders), ``correct``,
    ``accuracy`` (NaN for an empty bin) and the Wilson interval ``ci_low``,
    ``ci_high`` at ``confidence``. Binning rules are those of group_parameter.
    """
    check_parameter(df, parameter)
    scored = scored_results(df)
    grouping = group_parameter(scored[parameter], bins)
    group_count = len(grouping.groups)

    valid = grouping.codes >= 0
    codes = grouping.codes[valid]
    correct_flags = scored["is_correct"].to_numpy(dtype=bool)[valid]
    count = np.bincount(codes, minlength=group_count)
    correct = np.bincount(codes, weights=correct_flags, minlength=group_count)

    result = grouping.groups.copy()
    for column, values in _count_table(correct, count, confidence).items():
        result[column] = values
    return result.reset_index(drop=True)


def accuracy_by_parameter_pair(df: pd.DataFrame, row_parameter: str, column_parameter: str,
                               bins: Bins = 5, confidence: float = 0.95) -> pd.DataFrame:
    """Compute accuracy for each combination of groups of two parameters.

    Returns one row per (row group, column group) pair, empty pairs included,
    ordered by row group then column group. Columns: ``row_label``,
    ``row_value``, ``column_label``, ``column_value``, then ``count``,
    ``correct``, ``accuracy``, ``ci_low``, ``ci_high`` as in accuracy_by_parameter.
    """
    check_parameter(df, row_parameter)
    check_parameter(df, column_parameter)
    scored = scored_results(df)
    rows = group_parameter(scored[row_parameter], bins)
    columns = group_parameter(scored[column_parameter], bins)
    row_count, column_count = len(rows.groups), len(columns.groups)

    valid = (rows.codes >= 0) & (columns.codes >= 0)
    cell_codes = rows.codes[valid] * column_count + columns.codes[valid]
    correct_flags = scored["is_correct"].to_numpy(dtype=bool)[valid]
    count = np.bincount(cell_codes, minlength=row_count * column_count)
    correct = np.bincount(cell_codes, weights=correct_flags, minlength=row_count * column_count)

    row_index = np.repeat(np.arange(row_count), column_count)
    column_index = np.tile(np.arange(column_count), row_count)
    result = pd.DataFrame({
        "row_label": rows.groups["label"].to_numpy()[row_index],
        "row_value": rows.groups["value"].to_numpy()[row_index],
        "column_label": columns.groups["label"].to_numpy()[column_index],
        "column_value": columns.groups["value"].to_numpy()[column_index],
    })
    for column, values in _count_table(correct, count, confidence).items():
        result[column] = values
    return result


def accuracy_heatmap(df: pd.DataFrame, row_parameter: str, column_parameter: str, bins: Bins = 5,
                     value: str = "accuracy") -> pd.DataFrame:
    """Build a table of accuracy over two parameters, ready for a heatmap.

    The index contains the row parameter's group labels and the columns contain the
    column parameter's, both in group order and named after their parameters.
    Cells contain ``value``, one of the count columns of accuracy_by_parameter
    (default ``accuracy``, NaN for an empty cell).
    """
    if value not in COUNT_COLUMNS:
        raise AnalysisError(f"value must be one of {', '.join(COUNT_COLUMNS)}, got {value!r}")
    pairs = accuracy_by_parameter_pair(df, row_parameter, column_parameter, bins)
    row_labels = list(dict.fromkeys(pairs["row_label"]))
    column_labels = list(dict.fromkeys(pairs["column_label"]))
    grid = pairs[value].to_numpy().reshape(len(row_labels), len(column_labels))
    return pd.DataFrame(grid, index=pd.Index(row_labels, name=row_parameter),
                        columns=pd.Index(column_labels, name=column_parameter))


def worst_configurations(df: pd.DataFrame, n: int = 10, only_incorrect: bool = True) -> pd.DataFrame:
    """Return the ``n`` scored renders with the highest loss.

    With ``only_incorrect`` (the default), only misclassified renders count.
    Ties and NaN losses (last) are ordered by id so that the result is stable.
    Every column of ``df`` is kept, so each row carries its full parameter setting.
    """
    if n < 0:
        raise AnalysisError(f"n must be at least 0, got {n}")
    candidates = scored_results(df)
    if only_incorrect:
        candidates = candidates[~candidates["is_correct"].astype(bool)]
    ordered = candidates.sort_values(["loss", "id"], ascending=[False, True], na_position="last", kind="stable")
    return ordered.head(n)
