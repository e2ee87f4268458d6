"""`python -m jupyter_ft.cli ...`: the `jupyter-ft` command."""

import sys

from jupyter_ft.cli.main import main

sys.exit(main())
