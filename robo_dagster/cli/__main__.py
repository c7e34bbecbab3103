"""``python -m robo_dagster.cli``: the ``robo-dagster`` command without its script."""

import sys

from robo_dagster.cli.main import main

sys.exit(main())
