"""Where the dataset catalog meets the notebook face: the form's dataset choices, previews and a chooser.

Thin: choices come from `core.datasets.catalog.refs`, previews are `dataset_preview.DatasetPreview` (catalog versions, local
files streamed, DataFrames); a reference that cannot be previewed becomes a one-line message, not a traceback.
"""

from __future__ import annotations

import html
from typing import Any


def entries(ws: Any = None) -> list[str]:
    """Dataset references (`name@version`, newest first per dataset) for the form's dataset field."""
    from jupyter_ft.core.datasets import catalog

    return catalog.refs(ws)


def preview(ref: Any, ws: Any = None, page_size: int = 10, split: str = "train"):
    """A preview widget for `ref` (catalog reference, local file, DataFrame, Dataset); a one-line message widget
    instead when `ref` cannot be read."""
    import ipywidgets as widgets

    from jupyter_ft.widgets.dataset_preview import preview as dataset_preview

    try:
        return dataset_preview(ref, ws=ws, page_size=page_size, split=split)
    except (KeyError, ValueError, TypeError, OSError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        return widgets.HTML(f"<i>no preview: {html.escape(str(msg))}</i>")


def browser(ws: Any = None):
    """Every catalog dataset in a chooser, the chosen one previewed below it."""
    import ipywidgets as widgets

    refs = entries(ws)
    if not refs:
        return widgets.HTML("<i>The catalog is empty: add a dataset with ft.datasets.add(...) or "
                            "ft.datasets.add_demo('human-like').</i>")
    choose = widgets.Dropdown(options=refs, value=refs[0], description="dataset")
    box = widgets.VBox([preview(refs[0], ws)])
    choose.observe(lambda ch: setattr(box, "children", [preview(ch["new"], ws)]), names="value")
    return widgets.VBox([choose, box])
