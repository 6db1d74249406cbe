"""``python -m wifisense`` runs the command line."""

import sys

from wifisense.cli import main

sys.exit(main())
