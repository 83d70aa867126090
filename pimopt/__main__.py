"""``python -m pimopt`` runs the command-line interface."""

import sys

from pimopt.cli import main

sys.exit(main())
