"""The dataset catalog: the one door every dataset comes through before a job, an evaluation or a preview reads it.

The modules follow the pipeline a dataset goes through, in order:

    sources.py   where rows come from (files, folders, the hub, DataFrames, `datasets.Dataset`, lists), in batches
    shapes.py    which column feeds which field (names, aliases, value shapes, `mapping=`): the plan
    convert.py   rows turned into the exact columns TRL reads, every conversion recorded
    checks.py    every row checked (vectorised); the report names rows and counts reasons
    catalog.py   versions: content-addressed, immutable, seeded split, registered in one transaction
    pages.py     pages of rows for previews (only the page is read)

beside them: `formats.py` (data kinds and the formats of each), `errors.py`, `content_hash.py` (the version
digest) and `demo_data.py` (shipped demo rows).
"""

from jupyter_ft.core.datasets.formats import data_kind

__all__ = ["data_kind"]
