"""Web dashboard that shows where a model fails, served from one output directory.

``threedb dashboard OUTPUT_DIR`` (or ``python -m threedb.dashboard OUTPUT_DIR``)
serves a page with the overview, accuracy per parameter, heatmaps over two
parameters, a filterable image gallery and a view of each render. The page
picks up lines that a running experiment appends to details.log.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Serve a web page that shows where the model fails in one output directory:
the number of renders and the accuracy overall and per model x environment,
accuracy against any parameter (with 95% Wilson intervals), a heatmap over any
two parameters, an image gallery filterable by model, environment,
correctness and parameter ranges, and a detail view of each render.
While an experiment is still writing OUTPUT_DIR/details.log, the page picks
up new results without a restart. The page loads nothing from the internet.
"""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: expected an integer from 0 to 65535") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {port}: expected an integer from 0 to 65535")
    return port


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid interval {text!r}: expected a number of seconds above 0") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"invalid interval {text!r}: expected a number of seconds above 0")
    return seconds


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the dashboard's arguments to ``parser``."""
    parser.add_argument(
        "output_dir",
        metavar="OUTPUT_DIR",
        help="output directory of a threedb or 3DB run, which must contain details.log",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, which only this machine can reach). "
        "0.0.0.0 exposes the results and images to the network",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="TCP port to listen on, 0 for any free port (default: 8000)",
    )
    parser.add_argument(
        "--refresh-interval",
        type=_positive_seconds,
        default=1.0,
        metavar="SECONDS",
        help="minimum time between two checks of details.log for new lines, in seconds (default: 1.0)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more: -v for server starts, stops and results read, -vv for every request",
    )


def add_subparser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``dashboard`` subcommand on an argparse subparsers object and return its parser."""
    parser = subparsers.add_parser(
        "dashboard",
        help="serve a web page that shows where the model fails",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure_parser(parser)
    parser.set_defaults(func=run_dashboard_command)
    return parser


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    """Stop serving on SIGTERM or SIGINT the same way as on Ctrl+C."""
    raise KeyboardInterrupt


def run_dashboard_command(args: argparse.Namespace) -> int:
    """Serve the dashboard until Ctrl+C or SIGTERM and return the exit code.

    The exit code is 0 after a stop, 1 when the address cannot be bound and 2 for an invalid OUTPUT_DIR.
    """
    from threedb.errors import ThreeDBError

    from .server import DashboardServer, is_loopback

    try:
        server = DashboardServer(args.output_dir, args.host, args.port, args.refresh_interval)
    except ThreeDBError as error:
        print(f"threedb dashboard: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        reason = error.strerror or str(error)
        print(f"threedb dashboard: error: cannot listen on {args.host}:{args.port}: {reason}", file=sys.stderr)
        return 1

    if not is_loopback(args.host):
        logger.warning("listening on %s: anyone who can reach this address can read %s", args.host, args.output_dir)
    print(f"Serving {args.output_dir} at {server.url} (press Ctrl+C to stop)", flush=True)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        # Installed explicitly because a background job may start with SIGINT ignored.
        signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


__all__ = ["DESCRIPTION", "add_subparser", "configure_parser", "run_dashboard_command"]
