"""What every command of the CLI shares: opening the workspace, and the error a user can fix."""

from __future__ import annotations

from jupyter_ft.core.workspace import workspace


class CliError(Exception):
    """A mistake the user can fix: printed as one line, exit status 2."""


def _ws(a):
    try:
        return workspace(a.root)
    except OSError as exc:
        raise CliError(f"cannot open the workspace {exc.filename or a.root}: {exc.strerror or exc}") from None
