"""The `jupyter-ft` command line (`main.py`), its deploy commands (`deploy.py`) and the offline demo (`demo.py`)."""
