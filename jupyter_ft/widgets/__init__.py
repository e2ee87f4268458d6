"""Notebook panels (ipywidgets) over `jupyter_ft.core`; each module lays out, calls core and draws.

`dataset_preview.DatasetPreview`: a paged table of any dataset (preference rows side by side).
"""
