import sys

from jupyter_ft.training.runner import main

sys.exit(main())
