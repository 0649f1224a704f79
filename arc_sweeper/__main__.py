"""`python -m arc_sweeper`: the operator command line (see arc_sweeper.cli)."""

import logging
import sys

from arc_sweeper.cli import main

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
sys.exit(main())
