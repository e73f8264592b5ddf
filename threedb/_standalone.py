"""Helpers shared by the ``threedb`` CLI and the ``python -m threedb.<command>`` entry points."""

from __future__ import annotations

import argparse
import logging
from typing import Any, Callable, List

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_level(verbose: int) -> int:
    """Return the logging level for a count of ``-v`` flags: warnings, then info, then debug."""
    return [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]


def run_standalone(prog: str, description: str, configure: Callable[[argparse.ArgumentParser], None],
                   command: Callable[[argparse.Namespace], int], argv: List[str] | None = None) -> int:
    """Parse ``argv`` for one subcommand, log to stderr at the ``-v`` level, run it and return its exit code."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    args: Any = parser.parse_args(argv)
    logging.basicConfig(level=log_level(args.verbose), format=LOG_FORMAT)
    return command(args)
