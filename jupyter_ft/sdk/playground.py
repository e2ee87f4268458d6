"""`ft.playground`: the playground's votes from Python (the same core calls the widget and REST make).

    import jupyter_ft as ft
    ui = ft.ui.playground(endpoint, blind=True)            # ask, read two anonymous answers, vote A / B / tie
    ft.playground.votes()                                   # every vote: prompt, answers, models, winner, settings
    v = ft.playground.votes_dataset(name="playground-votes") # -> DatasetVersion playground-votes@..., DPO-ready
    ft.train(model=base, dataset=v.ref, technique="dpo")     # the playground makes training data

Ties are left out of the dataset and counted (`v.source["ties_skipped"]`), as are votes whose answers cannot
make a pair (`v.source["unusable_skipped"]`: identical or empty); `v.source["row_records"]` says, per row, which
vote, models and settings it came from.
"""

from __future__ import annotations

from typing import Any

from jupyter_ft.core.deploy import playground as _core
from jupyter_ft.core.workspace import workspace as _workspace
from jupyter_ft.core.deploy.playground import ChatSettings, PlaygroundError, Vote

__all__ = ["ChatSettings", "PlaygroundError", "Vote", "record_vote", "votes", "votes_dataset"]


def votes(ws: Any = None) -> list[Vote]:
    """Every vote in the workspace, oldest first."""
    return _core.votes(ws or _workspace())


def record_vote(prompt: Any, answers: dict[str, str], models: dict[str, str], winner: str,
                settings: dict[str, Any] | None = None, endpoint: str | None = None, *, ws: Any = None) -> str:
    """Store a vote (`winner`: one of the answers' labels, or "tie") and return its id."""
    return _core.record_vote(ws or _workspace(), prompt, answers, models, winner, settings, endpoint)


def votes_dataset(name: str = _core.DEFAULT_DATASET, *, eval_fraction: float = 0.0, ws: Any = None):
    """The votes as a preference dataset version in the catalog (prompt / chosen / rejected), ready for DPO."""
    return _core.votes_dataset(ws or _workspace(), name, eval_fraction=eval_fraction)
