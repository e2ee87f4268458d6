"""Notebook panels (ipywidgets) over `jupyter_ft.core`: each module lays out, calls core and draws."""
