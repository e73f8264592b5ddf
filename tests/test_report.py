"""Tests of the static HTML report on copies of the hand-made fixture folders."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from threedb.errors import OutputDirError
from threedb.report import add_subparser
from threedb.report.builder import ReportOptions, build_report, resolve_report_path

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
SMALL = FIXTURES / "results_small"
OLD_3DB = FIXTURES / "results_3db"


class ImageSources(HTMLParser):
    """Collect the src of every <img>, and the href or src of every <a>, <link> and <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.sources.append(values["src"] or "")
        if tag in ("a", "link", "script") and (values.get("href") or values.get("src")):
            self.links.append(values.get("href") or values.get("src") or "")


def image_sources(html_text: str) -> list[str]:
    parser = ImageSources()
    parser.feed(html_text)
    assert parser.links == []
    return parser.sources


@pytest.fixture()
def output_dir(tmp_path: Path) -> Path:
    target = tmp_path / "results"
    shutil.copytree(SMALL, target)
    return target


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """Build the report of results_small once; the tests that use it only read it."""
    target = tmp_path_factory.mktemp("shared") / "results"
    shutil.copytree(SMALL, target)
    return build_report(target)


def test_report_default_location(report):
    assert report.name == "index.html"
    assert report.parent.name == "report"
    assert report.parent.parent.name == "results"
    assert report.is_file()


def test_report_images_exist_and_are_relative(report):
    sources = image_sources(report.read_text(encoding="utf-8"))
    assert len(sources) == 3 + 3 + 5
    for source in sources:
        assert not source.startswith(("/", "http:", "https:", "file:")), source
        assert ".." not in source
        assert (report.parent / source).is_file(), source


def test_report_figures_are_not_blank(report):
    figures = sorted(report.parent.glob("*.png"))
    assert [figure.name for figure in figures] == [
        "accuracy_CameraControl.zoom_factor.png",
        "accuracy_ImageNetCCorruption.corruption_name.png",
        "accuracy_OrientationControl.rotation_z.png",
        "heatmap_CameraControl.zoom_factor__ImageNetCCorruption.corruption_name.png",
        "heatmap_OrientationControl.rotation_z__CameraControl.zoom_factor.png",
        "heatmap_OrientationControl.rotation_z__ImageNetCCorruption.corruption_name.png",
    ]
    for figure in figures:
        pixels = np.asarray(Image.open(figure).convert("RGB")).astype(float)
        assert pixels.shape[0] > 200, figure.name
        assert pixels.shape[1] > 400, figure.name
        assert pixels.std() > 10, figure.name


def test_report_heatmap_colours(report):
    # zoom x corruption: fog cells are all correct (green end of RdYlGn), snow cells all wrong (red end).
    heatmap = report.parent / "heatmap_CameraControl.zoom_factor__ImageNetCCorruption.corruption_name.png"
    pixels = np.asarray(Image.open(heatmap).convert("RGB")).astype(int)
    greens = ((pixels[..., 1] > 90) & (pixels[..., 0] < 40) & (pixels[..., 2] < 80)).sum()
    reds = ((pixels[..., 0] > 140) & (pixels[..., 1] < 30) & (pixels[..., 2] < 50)).sum()
    assert greens > 5000
    assert reds > 5000


def test_report_overview_numbers(report):
    text = report.read_text(encoding="utf-8")
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", text)
    assert cells[:6] == ["12", "11", "1", "6", "54.5%", "28.0% – 78.7%"]
    assert ["lamp.blend", "studio.exr", "3", "1", "2", "50.0%", "9.5% – 90.5%"] == cells[13:20]
    assert "<td>seed</td><td>7</td>" in text
    assert "random_search" in text


def test_report_worst_failures(report):
    text = report.read_text(encoding="utf-8")
    ids = re.findall(r'<div class="failure">.*?<b>([^<]+)</b>', text)
    assert ids == ["a09", "a04", "a02", "a06", "a11"]
    thumbnails = sorted(path.name for path in (report.parent / "thumbnails").iterdir())
    assert thumbnails == ["001_a09.png", "002_a04.png", "003_a02.png", "004_a06.png", "005_a11.png"]
    assert "predicted: candle; target: table lamp" in text
    assert "ImageNetCCorruption.corruption_name = snow" in text


def test_report_out_file_and_folder(output_dir, tmp_path):
    as_file = build_report(output_dir, tmp_path / "paper" / "failures.html")
    assert as_file == tmp_path / "paper" / "failures.html"
    assert (tmp_path / "paper" / "accuracy_CameraControl.zoom_factor.png").is_file()
    as_folder = build_report(output_dir, tmp_path / "pr")
    assert as_folder == tmp_path / "pr" / "index.html"
    assert resolve_report_path(output_dir, None) == output_dir / "report" / "index.html"


def test_report_options(output_dir):
    index = build_report(output_dir, options=ReportOptions(failures=2, max_heatmaps=1, bins=3))
    text = index.read_text(encoding="utf-8")
    assert len(re.findall(r'<div class="failure">', text)) == 2
    assert len(list(index.parent.glob("heatmap_*.png"))) == 1
    assert "Not drawn (2 pairs)" in text


def test_report_of_3db_folder(tmp_path):
    shutil.copytree(OLD_3DB, tmp_path / "old")
    index = build_report(tmp_path / "old")
    text = index.read_text(encoding="utf-8")
    ids = re.findall(r'<div class="failure">.*?<b>([^<]+)</b>', text)
    assert ids == ["9c1e0d", "9c1e0b"]
    assert text.count("no image") == 2
    assert "predicted: toilet tissue" in text
    assert "50.0%" in text


def test_report_escapes_html(tmp_path):
    line = {"id": "<x>", "model": "<b>m</b>.blend", "environment": "e&v", "render_args": {"<i>C</i>.p": "<s>"},
            "is_correct": False, "loss": 1.0, "prediction": [1]}
    (tmp_path / "details.log").write_text(json.dumps(line) + "\n")
    text = build_report(tmp_path).read_text(encoding="utf-8")
    assert "<b>m</b>" not in text
    assert "&lt;b&gt;m&lt;/b&gt;.blend" in text
    assert "&lt;i&gt;C&lt;/i&gt;.p = &lt;s&gt;" in text
    assert "e&amp;v" in text


def test_report_skips_constant_parameters(tmp_path):
    lines = [{"id": str(index), "model": "m.blend", "environment": "e", "render_args": {"C.a": index, "C.b": 16.0},
              "is_correct": index % 2 == 0, "loss": float(index), "prediction": [1]} for index in range(4)]
    (tmp_path / "details.log").write_text("".join(json.dumps(line) + "\n" for line in lines))
    index = build_report(tmp_path)
    text = index.read_text(encoding="utf-8")
    assert "Constant in every render, so not plotted: C.b = 16." in text
    assert [path.name for path in index.parent.glob("accuracy_*.png")] == ["accuracy_C.a.png"]
    assert list(index.parent.glob("heatmap_*.png")) == []


def test_report_with_no_results(tmp_path):
    (tmp_path / "details.log").write_text("")
    text = build_report(tmp_path).read_text(encoding="utf-8")
    assert "The results have no parameter that varies." in text
    assert "Heatmaps need at least two parameters that vary." in text
    assert "No render was misclassified." in text


def test_report_missing_output_dir(tmp_path):
    with pytest.raises(OutputDirError):
        build_report(tmp_path / "absent")


def run_module(*args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "threedb.report", *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO_ROOT, env=environment)


def test_cli_writes_report(output_dir, tmp_path):
    result = run_module(str(output_dir), "--out", str(tmp_path / "r.html"), "--failures", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Wrote report to {tmp_path / 'r.html'}"
    assert (tmp_path / "r.html").is_file()


def test_cli_bad_output_dir(tmp_path):
    result = run_module(str(tmp_path / "absent"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_unwritable_out(output_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run_module(str(output_dir), "--out", str(blocker / "index.html"))
    assert result.returncode == 1
    assert "cannot write the report" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_help_lists_options():
    result = run_module("--help")
    text = " ".join(result.stdout.split())
    for option in ["OUTPUT_DIR", "--out PATH", "--bins", "--heatmap-bins", "--failures", "--max-heatmaps",
                   "(default: OUTPUT_DIR/report/index.html)", "(default: 10)", "(default: 24)"]:
        assert option in text


def test_add_subparser_registers_report():
    parser = argparse.ArgumentParser(prog="threedb")
    add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", "out", "--out", "x.html", "--bins", "4"])
    assert (args.output_dir, args.out, args.bins, args.heatmap_bins) == ("out", "x.html", 4, 5)
    assert callable(args.func)
