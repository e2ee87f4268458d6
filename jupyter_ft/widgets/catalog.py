"""Where the dataset catalog plugs into the notebook face: the form's dataset choices and its preview.

When the catalog is installed (`jupyter_ft.core.catalog.refs(ws)` and `jupyter_ft.widgets.dataset_preview.preview`)
the dataset field offers every `name@version` and the preview is the catalog's paged one. Without it, the field is
free text (a file path or hub id) and the preview reads the first rows of a local JSON Lines/JSON file without
loading the rest. Only this module knows which is there.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any


def _catalog():
    try:
        from jupyter_ft.core import catalog  # added by the dataset-catalog work
    except ImportError:
        return None
    return catalog


def available() -> bool:
    return _catalog() is not None


def entries(ws: Any = None) -> list[str]:
    """Dataset references (`name@version`) to offer in the form's dataset field; empty without a catalog."""
    catalog = _catalog()
    if catalog is None:
        return []
    return [str(ref) for ref in catalog.refs(ws)]  # wire: the catalog's list of `name@version` references


def preview(ref: str, ws: Any = None, rows: int = 5):
    """A widget previewing dataset `ref`: the catalog's preview when it exists, else the first rows of a file."""
    try:
        from .dataset_preview import preview as catalog_preview  # added by the dataset-catalog work
    except ImportError:
        catalog_preview = None
    if catalog_preview is not None:
        return catalog_preview(ref, ws=ws)  # wire: the catalog's preview widget
    import ipywidgets as widgets

    return widgets.HTML(file_preview_html(ref, rows))


def browser(ws: Any = None):
    """Every catalog dataset in a chooser, the chosen one previewed below it; None without a catalog."""
    if not available():
        return None
    import ipywidgets as widgets

    refs = entries(ws)
    if not refs:
        return widgets.HTML("<i>The catalog is empty: add a dataset with ft.datasets.add(...).</i>")
    choose = widgets.Dropdown(options=refs, value=refs[0], description="dataset")
    box = widgets.VBox([preview(refs[0], ws)])
    choose.observe(lambda ch: setattr(box, "children", [preview(ch["new"], ws)]), names="value")
    return widgets.VBox([choose, box])


def _head(path: Path, rows: int) -> list[dict[str, Any]]:
    """The first `rows` records of a .jsonl (streamed) or small .json file."""
    if path.suffix.lower() == ".jsonl":
        out = []
        with path.open() as fh:
            for i, line in enumerate(fh, start=1):
                if len(out) >= rows:
                    break
                if line.strip():
                    try:
                        out.append(json.loads(line))
                    except ValueError as exc:
                        raise ValueError(f"{path}: row {i} is not JSON: {exc}") from None
        return out
    if path.suffix.lower() == ".json" and path.stat().st_size < 50 << 20:
        data = json.loads(path.read_text())
        return list(data[:rows]) if isinstance(data, list) else [data]
    raise ValueError(f"{path}: preview of {path.suffix or 'this'} files needs the dataset catalog")


def _cell(v: Any) -> str:
    if isinstance(v, list) and all(isinstance(m, dict) and "role" in m for m in v):
        return "<br>".join(f"<b>{html.escape(str(m['role']))}</b>: {html.escape(str(m.get('content', '')))}" for m in v)
    return html.escape(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))


def file_preview_html(ref: str, rows: int = 5) -> str:
    path = Path(ref).expanduser()
    if not path.is_file():
        return f"<i>no preview: {html.escape(ref)} is not a local file (hub datasets are previewed by the catalog)</i>"
    try:
        head = _head(path, rows)
    except (OSError, ValueError) as exc:
        return f"<i>no preview: {html.escape(str(exc))}</i>"
    cols: list[str] = []
    for r in head:
        cols += [c for c in (r if isinstance(r, dict) else {"value": r}) if c not in cols]
    body = "".join("<tr>" + "".join(f"<td style='text-align:left;vertical-align:top'>{_cell(r.get(c, ''))}</td>"
                                    for c in cols) + "</tr>" for r in head if isinstance(r, dict))
    header = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in cols)
    return (f"<div><b>{html.escape(path.name)}</b>: first {len(head)} rows"
            f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>")
