"""Run the dashboard without the threedb CLI: ``python -m threedb.dashboard OUTPUT_DIR``."""

from __future__ import annotations

import argparse
import logging
import sys

from . import DESCRIPTION, configure_parser, run_dashboard_command


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, log warnings (more with -v) to stderr, serve the dashboard and return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m threedb.dashboard",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure_parser(parser)
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_dashboard_command(args)


if __name__ == "__main__":
    sys.exit(main())
