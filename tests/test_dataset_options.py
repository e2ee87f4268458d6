"""Dataset import options from Python are refused naming the option when out of range, non-finite or boolean."""

from __future__ import annotations

import math

import pytest

import jupyter_ft as ft
from jupyter_ft.core.datasets import demo_data
from jupyter_ft.core.datasets.errors import DatasetImportError


BAD = [("seed", -1), ("seed", 2**32), ("seed", 2**80), ("seed", True), ("seed", 1.5),
       ("eval_fraction", math.nan), ("eval_fraction", math.inf), ("eval_fraction", True), ("eval_fraction", 1.0),
       ("eval_fraction", -0.1), ("max_chars", True), ("max_chars", 0), ("max_chars", -3)]


def test_bad_options_name_the_option(ws):
    for option, value in BAD:
        with pytest.raises(DatasetImportError) as ei:
            ft.datasets.add(demo_data.sft_rows(4), name="caps", technique="sft", **{option: value})
        assert ei.value.field == option and option in str(ei.value), (option, value)
    assert ft.datasets.list() == []


def test_edge_values_are_accepted(ws):
    v = ft.datasets.add(demo_data.sft_rows(4), name="caps", technique="sft", seed=2**32 - 1, eval_fraction=0.0)
    assert v.num_eval == 0 and v.num_train == 4
