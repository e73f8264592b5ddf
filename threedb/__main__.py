import sys

from threedb.cli import main

sys.exit(main())
