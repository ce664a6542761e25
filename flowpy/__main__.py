"""``python -m flowpy``: the command line."""

import sys

from flowpy.cli import main

sys.exit(main())
