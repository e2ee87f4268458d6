import sys

from jupyter_ft.evaluation.runner import main

sys.exit(main())
