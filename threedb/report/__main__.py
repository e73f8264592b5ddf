"""Write a report without the threedb CLI: ``python -m threedb.report OUTPUT_DIR``."""

from __future__ import annotations

import argparse
import logging
import sys

from . import DESCRIPTION, configure_parser, run_report_command


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, log warnings (more with -v) to stderr, write the report and return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m threedb.report",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure_parser(parser)
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_report_command(args)


if __name__ == "__main__":
    sys.exit(main())
