"""Matplotlib figures of the static report, drawn with the Agg canvas (no display or pyplot state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from threedb.analysis import accuracy_heatmap

FIGURE_DPI = 110
ACCENT = "#2c6fbb"


def _new_figure(width_inches: float, height_inches: float) -> Figure:
    figure = Figure(figsize=(width_inches, height_inches), dpi=FIGURE_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plot_accuracy(groups: pd.DataFrame, parameter: str, numeric: bool, path: Path) -> None:
    """Save accuracy per group (output of accuracy_by_parameter) with Wilson interval bars as a PNG.

    Numeric groups are points joined by a line at their value (bin center or
    distinct value). Categories are bars. Empty groups are left out.
    """
    figure = _new_figure(7.0, 3.4)
    axes = figure.add_subplot()
    present = groups[groups["count"] > 0]
    accuracy = present["accuracy"].to_numpy(dtype=float)
    error = np.vstack([accuracy - present["ci_low"].to_numpy(dtype=float),
                       present["ci_high"].to_numpy(dtype=float) - accuracy])

    if numeric:
        positions = present["value"].to_numpy(dtype=float)
        axes.errorbar(positions, accuracy, yerr=error, fmt="o-", color=ACCENT, ecolor=ACCENT, capsize=3, markersize=4)
        axes.set_xlabel(parameter)
    else:
        positions = np.arange(len(present), dtype=float)
        axes.bar(positions, accuracy, color=ACCENT, alpha=0.8)
        axes.errorbar(positions, accuracy, yerr=error, fmt="none", ecolor="#333333", capsize=3)
        axes.set_xticks(positions, present["label"].tolist(), rotation=30, ha="right")
        axes.set_xlabel(f"{parameter} (categories)")
    for x_value, y_value, count in zip(positions, accuracy, present["count"]):
        axes.annotate(f"n={count}", (x_value, y_value), textcoords="offset points", xytext=(0, 6),
                      ha="center", fontsize=7, color="#555555")

    axes.set_ylim(0, 1.08)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_ylabel("accuracy")
    axes.grid(axis="y", color="#e3e6ea")
    axes.set_axisbelow(True)
    figure.savefig(path, format="png")


def plot_heatmap(df: pd.DataFrame, row_parameter: str, column_parameter: str, bins: int, path: Path) -> None:
    """Save a heatmap of accuracy over two parameters as a PNG, each cell labelled with accuracy and count."""
    accuracy = accuracy_heatmap(df, row_parameter, column_parameter, bins=bins)
    counts = accuracy_heatmap(df, row_parameter, column_parameter, bins=bins, value="count")

    width = min(12.0, 2.5 + 0.9 * accuracy.shape[1])
    height = min(10.0, 1.8 + 0.5 * accuracy.shape[0])
    figure = _new_figure(width, height)
    axes = figure.add_subplot()
    colormap = colormaps["RdYlGn"].with_extremes(bad="#e3e6ea")
    image = axes.imshow(np.ma.masked_invalid(accuracy.to_numpy(dtype=float)), cmap=colormap, vmin=0, vmax=1,
                        aspect="auto")
    for row in range(accuracy.shape[0]):
        for column in range(accuracy.shape[1]):
            value = accuracy.iat[row, column]
            count = int(counts.iat[row, column])
            text = f"{value:.0%}\nn={count}" if count else "–"
            color = "white" if count and (value < 0.2 or value > 0.85) else "#1d232b"
            axes.text(column, row, text, ha="center", va="center", fontsize=7, color=color)

    axes.set_xticks(range(accuracy.shape[1]), accuracy.columns.tolist(), rotation=30, ha="right")
    axes.set_yticks(range(accuracy.shape[0]), accuracy.index.tolist())
    axes.set_xlabel(column_parameter)
    axes.set_ylabel(row_parameter)
    colorbar = figure.colorbar(image, ax=axes, format=PercentFormatter(1.0))
    colorbar.set_label("accuracy")
    figure.savefig(path, format="png")
