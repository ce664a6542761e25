"""``python -m flowpy``: the command line."""

import sys

from flowpy.cli.main import main

sys.exit(main())
