"""Write a report without the threedb CLI: ``python -m threedb.report OUTPUT_DIR``."""

from __future__ import annotations

import sys

from threedb._standalone import run_standalone

from . import DESCRIPTION, configure_parser, run_report_command


def main(argv: list[str] | None = None) -> int:
    return run_standalone("python -m threedb.report", DESCRIPTION, configure_parser, run_report_command, argv)


if __name__ == "__main__":
    sys.exit(main())
