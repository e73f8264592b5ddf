"""Static HTML report of where a model fails, for a paper or a pull request.

``threedb report OUTPUT_DIR`` (or ``python -m threedb.report OUTPUT_DIR``)
writes ``OUTPUT_DIR/report/index.html`` with PNG figures and thumbnails beside it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Write a static HTML report of one output directory: the number of renders and
the accuracy overall and per model x environment, one accuracy plot per
parameter (with 95% Wilson intervals), heatmaps of accuracy over pairs of
parameters, and a grid of the misclassified renders with the highest loss.
Figures are PNG files beside the HTML file and thumbnails are copied into a
thumbnails/ folder, so the report folder can be moved or attached as a whole.
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: expected an integer of at least 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {value}: expected an integer of at least 1")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: expected an integer of at least 0") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid count {value}: expected an integer of at least 0")
    return value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the report's arguments to ``parser``."""
    parser.add_argument(
        "output_dir",
        metavar="OUTPUT_DIR",
        help="output directory of a threedb or 3DB run, which must contain details.log",
    )
    parser.add_argument(
        "--out",
        metavar="PATH",
        default=None,
        help="where to write the report: a path ending in .html is the HTML file, any other path a folder "
        "that gets index.html; figures go beside the HTML file (default: OUTPUT_DIR/report/index.html)",
    )
    parser.add_argument(
        "--bins",
        type=_positive_int,
        default=10,
        help="number of equal-width bins per numeric parameter in accuracy plots. A parameter with no more "
        "distinct values than this gets one point per value (default: 10)",
    )
    parser.add_argument(
        "--heatmap-bins",
        type=_positive_int,
        default=5,
        help="number of bins per numeric axis in heatmaps, with the same rule for few distinct values (default: 5)",
    )
    parser.add_argument(
        "--failures",
        type=_non_negative_int,
        default=24,
        help="number of misclassified renders with the highest loss to show (default: 24)",
    )
    parser.add_argument(
        "--max-heatmaps",
        type=_non_negative_int,
        default=12,
        help="maximum number of parameter pairs to draw heatmaps for, in parameter column order (default: 12)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more: -v for each step, -vv for debugging",
    )


def add_subparser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``report`` subcommand on an argparse subparsers object and return its parser."""
    parser = subparsers.add_parser(
        "report",
        help="write a static HTML report of where the model fails",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure_parser(parser)
    parser.set_defaults(func=run_report_command)
    return parser


def run_report_command(args: argparse.Namespace) -> int:
    """Write the report and return the exit code: 0 written, 1 write failed, 2 invalid OUTPUT_DIR."""
    from threedb.errors import ThreeDBError

    from .builder import ReportOptions, build_report

    options = ReportOptions(bins=args.bins, heatmap_bins=args.heatmap_bins, failures=args.failures,
                            max_heatmaps=args.max_heatmaps)
    try:
        index_path = build_report(args.output_dir, args.out, options)
    except ThreeDBError as error:
        print(f"threedb report: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"threedb report: error: cannot write the report: {error}", file=sys.stderr)
        return 1
    print(f"Wrote report to {index_path}")
    return 0


__all__ = ["DESCRIPTION", "add_subparser", "configure_parser", "run_report_command"]
