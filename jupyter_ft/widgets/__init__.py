"""Notebook panels (ipywidgets + plotly): job form, live chart, jobs panel, side-by-side compare.

Each module is a thin face over `jupyter_ft.core`: it lays out, calls core, draws. Open them through `jupyter_ft.widgets.ui`
(`ft.ui.train()`, `ft.ui.chart(job)`, `ft.ui.jobs()`, `ft.ui.compare(...)`), which imports them on first use.
"""
