"""The jupyter-server extension: thin REST handlers over `jupyter_ft.core` for the JupyterLab sidebar."""

from jupyter_ft.server.app import JupyterFTApp

__all__ = ["JupyterFTApp"]
