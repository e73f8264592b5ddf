"""Static HTML report of one output directory: overview, accuracy plots, heatmaps, worst failures.

The report is one index.html with its PNG figures and thumbnails beside it and
relative links only, so the folder can be attached to a paper or a pull request.
"""

from __future__ import annotations

import datetime
import html
import itertools
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from threedb.analysis import (
    accuracy_by_model_environment,
    accuracy_by_parameter,
    is_numeric_parameter,
    keep_top_categories,
    load_results,
    parameter_columns,
    summarize_results,
    validate_output_dir,
    worst_configurations,
)
from threedb.errors import OutputDirError

from .figures import plot_accuracy, plot_heatmap

logger = logging.getLogger(__name__)

REPORT_DIR = "report"
THUMBNAIL_DIR = "thumbnails"
THUMBNAIL_SIZE = 256  # pixels, longest side
# Maximum categories shown per categorical parameter, the most frequent first. The report counts the rest as omitted.
MAX_CATEGORIES = 30

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d232b; max-width: 1100px;
       margin: 24px auto; padding: 0 16px; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 32px; border-bottom: 1px solid #d0d4da; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 8px 0; }
th, td { border-bottom: 1px solid #d0d4da; padding: 3px 14px 3px 0; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #5b6470; font-size: 0.9rem; }
figure { margin: 12px 0 24px; } figure img { max-width: 100%; }
.failures { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 14px; }
.failure { border: 2px solid #d73027; border-radius: 6px; padding: 6px; font-size: 0.8rem; overflow-wrap: break-word; }
.failure ul { padding-left: 14px; margin: 4px 0; font-size: 0.72rem; }
.failure img { width: 100%; image-rendering: pixelated; background: #eef0f3; }
.failure .no-image { height: 120px; display: flex; align-items: center; justify-content: center; background: #eef0f3; }
pre { background: #f6f7f9; padding: 8px; overflow-x: auto; font-size: 0.8rem; }
"""


@dataclass
class ReportOptions:
    """Settings of one report.

    - ``bins``: bins per numeric parameter in accuracy plots.
    - ``heatmap_bins``: bins per numeric axis in heatmaps.
    - ``failures``: number of worst failures shown.
    - ``max_heatmaps``: maximum number of heatmaps, drawn for the first parameter pairs in column order.
    - ``confidence``: level of the Wilson intervals.
    """

    bins: int = 10
    heatmap_bins: int = 5
    failures: int = 24
    max_heatmaps: int = 12
    confidence: float = 0.95


def default_report_path(output_dir: Path) -> Path:
    """Return where a report goes by default: ``OUTPUT_DIR/report/index.html``."""
    return output_dir / REPORT_DIR / "index.html"


def resolve_report_path(output_dir: Path, out: str | os.PathLike[str] | None) -> Path:
    """Return the index.html path for ``--out``: a path ending in .html is the file, anything else a folder."""
    if out is None:
        return default_report_path(output_dir)
    path = Path(out)
    if path.suffix.lower() in (".html", ".htm"):
        return path
    return path / "index.html"


def safe_file_stem(text: str) -> str:
    """Turn a parameter name or render id into a file-name stem of letters, digits, '.', '_' and '-'."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return stem[:80] or "item"


def build_report(output_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                 options: ReportOptions | None = None) -> Path:
    """Write the HTML report of ``output_dir`` and return the path of its index.html.

    Raises OutputDirError when the output directory is unusable, and OSError
    when the report folder cannot be written.
    """
    options = options or ReportOptions()
    output = validate_output_dir(output_dir)
    index_path = resolve_report_path(output, out)
    report_dir = index_path.parent
    report_dir.mkdir(parents=True, exist_ok=True)
    if not report_dir.is_dir():
        raise OutputDirError(f"report folder {str(report_dir)!r} is not a directory")

    df = load_results(output)
    sections = [
        overview_section(df, output, options),
        accuracy_section(df, report_dir, options),
        heatmap_section(df, report_dir, options),
        failures_section(df, output, report_dir, options),
    ]
    index_path.write_text(page(f"threedb report: {output.resolve().name}", output, sections), encoding="utf-8")
    logger.info("wrote report of %d results to %s", len(df), index_path)
    return index_path


def page(title: str, output_dir: Path, sections: Sequence[str]) -> str:
    """Wrap the report sections in a complete HTML document with inline CSS."""
    generated = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="muted">Results from {escape(str(output_dir.resolve()))}, report generated {escape(generated)}.</p>',
        *sections,
        "</body></html>",
    ])


def escape(value: Any) -> str:
    """HTML-escape any value's text form."""
    return html.escape(str(value), quote=True)


def percent(value: float) -> str:
    """Format a proportion as a percentage with one decimal, or an en dash for NaN."""
    return "–" if pd.isna(value) else f"{100 * value:.1f}%"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric_columns: Sequence[int] = ()) -> str:
    """Render an HTML table whose cells in ``numeric_columns`` are right-aligned."""
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="number">{escape(cell)}</td>' if index in numeric_columns else f"<td>{escape(cell)}</td>"
            for index, cell in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def overview_section(df: pd.DataFrame, output_dir: Path, options: ReportOptions) -> str:
    """Build the overview section: counts, overall accuracy, accuracy per model x environment, seed and versions."""
    summary = summarize_results(df, options.confidence)
    level = f"{options.confidence:.0%}"
    interval = f"{percent(summary['ci_low'])} – {percent(summary['ci_high'])}" if summary["scored"] else "–"
    parts = [
        "<h2>Overview</h2>",
        table(["Renders", "Scored", "Failed jobs", "Correct", "Accuracy", f"{level} Wilson interval"],
              [[summary["renders"], summary["scored"], summary["failed"], summary["correct"],
                percent(summary["accuracy"]), interval]], numeric_columns=range(6)),
    ]

    pairs = accuracy_by_model_environment(df, options.confidence)
    rows = [[row.model, row.environment, row.renders, row.failed, row.count, percent(row.accuracy),
             f"{percent(row.ci_low)} – {percent(row.ci_high)}" if row.count else "–"]
            for row in pairs.itertuples(index=False)]
    parts.append("<h3>Per model and environment</h3>")
    parts.append(table(["Model", "Environment", "Renders", "Failed jobs", "Scored", "Accuracy",
                        f"{level} Wilson interval"], rows, numeric_columns=(2, 3, 4, 5, 6)))
    parts.append(run_info_html(output_dir))
    return "\n".join(parts)


def run_info_html(output_dir: Path) -> str:
    """Build HTML for run_info.json (seed, versions) and config.yaml, when the output directory has them."""
    parts = []
    run_info = output_dir / "run_info.json"
    if run_info.is_file():
        try:
            info = json.loads(run_info.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            logger.warning("failed to read %s: %s", run_info, error)
        else:
            if isinstance(info, dict):
                rows = [[key, json.dumps(value) if isinstance(value, (dict, list)) else value]
                        for key, value in info.items()]
                parts.append("<h3>Run</h3>" + table(["Key", "Value"], rows))
    config = output_dir / "config.yaml"
    if config.is_file():
        text = config.read_text(encoding="utf-8", errors="replace")
        parts.append(f"<details><summary>Resolved config (config.yaml)</summary><pre>{escape(text)}</pre></details>")
    return "\n".join(parts)


def varying_parameters(df: pd.DataFrame) -> tuple[list[str], dict[str, Any]]:
    """Split the parameters into those with at least two distinct values and the constant ones.

    Returns the varying parameter names, in column order, and a dict from each
    constant parameter to its single value (None when it has no value at all).
    """
    varying: list[str] = []
    constant: dict[str, Any] = {}
    for parameter in parameter_columns(df):
        values = df[parameter].dropna().unique()
        if len(values) >= 2:
            varying.append(parameter)
        else:
            constant[parameter] = values[0] if len(values) else None
    return varying, constant


def accuracy_section(df: pd.DataFrame, report_dir: Path, options: ReportOptions) -> str:
    """Save one accuracy plot per parameter as accuracy_<parameter>.png and return the section's HTML."""
    parts = ["<h2>Accuracy by parameter</h2>",
             f'<p class="muted">Points are accuracies and bars {options.confidence:.0%} Wilson intervals. '
             f"Numeric parameters use {options.bins} equal-width bins, or one point per value when they have "
             "no more distinct values than that.</p>"]
    parameters, constant = varying_parameters(df)
    if constant:
        values = ", ".join(f"{name} = {format_value(value)}" for name, value in constant.items())
        parts.append(f"<p>Constant in every render, so not plotted: {escape(values)}.</p>")
    if not parameters:
        parts.append("<p>The results have no parameter that varies.</p>")
    for parameter in parameters:
        subset, omitted = keep_top_categories(df, parameter, MAX_CATEGORIES)
        groups = accuracy_by_parameter(subset, parameter, bins=options.bins, confidence=options.confidence)
        if groups["count"].sum() == 0:
            parts.append(f"<h3>{escape(parameter)}</h3><p>No scored render has a value for this parameter.</p>")
            continue
        file_name = f"accuracy_{safe_file_stem(parameter)}.png"
        plot_accuracy(groups, parameter, is_numeric_parameter(df[parameter]), report_dir / file_name)
        note = f" The {omitted} least frequent values are not shown." if omitted else ""
        parts.append(f'<figure><img src="{escape(file_name)}" alt="Accuracy by {escape(parameter)}">'
                     f"<figcaption>{escape(parameter)}.{escape(note)}</figcaption></figure>")
    return "\n".join(parts)


def heatmap_section(df: pd.DataFrame, report_dir: Path, options: ReportOptions) -> str:
    """Save heatmaps of accuracy over parameter pairs, at most options.max_heatmaps, and return the section's HTML."""
    parameters, _ = varying_parameters(df)
    pairs = list(itertools.combinations(parameters, 2))
    parts = ["<h2>Accuracy over two parameters</h2>"]
    if not pairs:
        parts.append("<p>Heatmaps need at least two parameters that vary.</p>")
        return "\n".join(parts)

    for row_parameter, column_parameter in pairs[:options.max_heatmaps]:
        subset, _ = keep_top_categories(df, row_parameter, MAX_CATEGORIES)
        subset, _ = keep_top_categories(subset, column_parameter, MAX_CATEGORIES)
        file_name = f"heatmap_{safe_file_stem(row_parameter)}__{safe_file_stem(column_parameter)}.png"
        plot_heatmap(subset, row_parameter, column_parameter, options.heatmap_bins, report_dir / file_name)
        parts.append(f'<figure><img src="{escape(file_name)}" '
                     f'alt="Accuracy over {escape(row_parameter)} and {escape(column_parameter)}">'
                     f"<figcaption>{escape(row_parameter)} (rows) × {escape(column_parameter)} (columns)"
                     "</figcaption></figure>")
    if len(pairs) > options.max_heatmaps:
        skipped = ", ".join(f"{a} × {b}" for a, b in pairs[options.max_heatmaps:])
        parts.append(f'<p class="muted">Not drawn ({len(pairs) - options.max_heatmaps} pairs): {escape(skipped)}.</p>')
    return "\n".join(parts)


def failures_section(df: pd.DataFrame, output_dir: Path, report_dir: Path, options: ReportOptions) -> str:
    """Build the grid of misclassified renders with the highest loss, saving their thumbnails into the report."""
    worst = worst_configurations(df, options.failures)
    parts = ["<h2>Worst failures</h2>",
             f'<p class="muted">The {len(worst)} misclassified renders with the highest loss.</p>']
    if worst.empty:
        parts.append("<p>No render was misclassified.</p>")
        return "\n".join(parts)

    parameters, _ = varying_parameters(df)
    cards = []
    for rank, values in enumerate(worst.itertuples(index=False, name=None), start=1):
        row = dict(zip(worst.columns, values))
        cards.append(failure_card(row, rank, parameters, output_dir, report_dir))
    parts.append(f'<div class="failures">{"".join(cards)}</div>')
    return "\n".join(parts)


def failure_card(row: dict[str, Any], rank: int, parameters: Sequence[str], output_dir: Path,
                 report_dir: Path) -> str:
    """Build the HTML card of one failure: thumbnail, id, loss, predicted and target classes, parameter values."""
    thumbnail = make_thumbnail(output_dir, row.get("image_path"), report_dir,
                               f"{rank:03d}_{safe_file_stem(str(row['id']))}.png")
    if thumbnail is None:
        picture = '<div class="no-image">no image</div>'
    else:
        picture = f'<img src="{escape(thumbnail)}" alt="render {escape(row["id"])}">'

    predicted = row["top1_name"] if isinstance(row["top1_name"], str) else row["top1"]
    targets = ", ".join(str(name) for name in row["target_names"]) or "–"
    values = "".join(f"<li>{escape(name)} = {escape(format_value(row[name]))}</li>" for name in parameters)
    return (
        f'<div class="failure">{picture}'
        f"<div><b>{escape(row['id'])}</b> · loss {escape(format_value(row['loss']))}</div>"
        f"<div>predicted: {escape(predicted)}; target: {escape(targets)}</div>"
        f'<div class="muted">{escape(row["model"])} · {escape(row["environment"])}</div>'
        f"<ul>{values}</ul></div>"
    )


def format_value(value: Any) -> str:
    """Format a parameter value or loss: floats with 4 significant digits, missing values as an en dash."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def make_thumbnail(output_dir: Path, image_path: Any, report_dir: Path, file_name: str) -> str | None:
    """Save a thumbnail of a render's RGB image into the report and return its relative path.

    Returns None when the render has no image or the image cannot be read.
    """
    if not isinstance(image_path, str):
        return None
    from PIL import Image, UnidentifiedImageError

    source = output_dir / image_path
    target_dir = report_dir / THUMBNAIL_DIR
    target_dir.mkdir(exist_ok=True)
    try:
        with Image.open(source) as image:
            image = image.convert("RGB")
            image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            image.save(target_dir / file_name, format="PNG")
    except (OSError, UnidentifiedImageError) as error:
        logger.warning("failed to make a thumbnail of %s: %s", source, error)
        return None
    return f"{THUMBNAIL_DIR}/{file_name}"
