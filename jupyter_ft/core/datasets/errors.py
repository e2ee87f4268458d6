"""Errors of the dataset catalog. Each names the file, the field and (where there is one) the row.

Every face turns them into its own form: the SDK raises them, REST answers 4xx with `errors` (row/field/message),
the job spec check turns them into a `SpecError` on `dataset`.
"""

from __future__ import annotations

from typing import Any

from jupyter_ft.core.datasets.formats import DatasetFormatError


class DatasetImportError(DatasetFormatError):
    """An import that cannot go ahead (unreadable file, unknown column in a mapping, no usable format).

    `field` is the argument or column at fault (`mapping.prompt`, `source`, `messages`); `errors` lists
    `{"row", "field", "message"}` items for row-level problems.
    """

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None,
                 errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.field = field
        self.row = row
        self.errors = errors if errors is not None else [{"row": row, "field": field, "message": message}]


class DatasetValidationError(DatasetImportError):
    """Rows failed validation and `drop_invalid` was not set; `report` holds counts per reason and examples."""

    def __init__(self, message: str, report: dict[str, Any]):
        examples = report.get("examples", [])
        super().__init__(message, field=examples[0]["field"] if examples else None,
                         row=examples[0]["row"] if examples else None, errors=list(examples))
        self.report = report


class DatasetNotFound(KeyError):
    """No dataset (or no such version of it) in the workspace catalog."""

    def __str__(self) -> str:
        return str(self.args[0])
