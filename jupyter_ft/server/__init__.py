"""The jupyter-server extension: thin REST handlers over `jupyter_ft.core` for the JupyterLab sidebar."""

from .app import JupyterFTApp

__all__ = ["JupyterFTApp"]
