"""Demo datasets written by this project, generated from templates so their size is adjustable.

`preference_rows` has the shape of public "human-like" DPO datasets: a conversational prompt, a warm,
informal `chosen` answer and a stiff, formal `rejected` one carrying the same content (see `human_like`).
`sft_rows` is a small, memorisable chat set used by the SFT demo and tests. Both are deterministic for a given `n` and `seed`.
"""

from __future__ import annotations

import random
from typing import Any

from jupyter_ft.core.datasets import human_like


def preference_rows(n: int = 1200, seed: int = 0) -> list[dict[str, Any]]:
    """`n` conversational preference rows: the same helpful answer, warm (`chosen`) and formal (`rejected`)."""
    return human_like.preference_rows(n, seed)


CAPITALS = [
    ("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Egypt", "Cairo"),
    ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Norway", "Oslo"), ("Chile", "Santiago"), ("Canada", "Ottawa"),
    ("Greece", "Athens"), ("Poland", "Warsaw"), ("Cuba", "Havana"), ("Ireland", "Dublin"), ("India", "New Delhi"),
    ("Germany", "Berlin"),
]


def sft_rows(n: int = 64, seed: int = 0) -> list[dict[str, Any]]:
    """`n` short, memorisable chat rows (country -> capital) in the conversational `messages` format."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        country, capital = CAPITALS[i % len(CAPITALS)]
        q = rng.choice(["What is the capital of {c}?", "Name the capital of {c}.", "{c}'s capital city?"])
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": q.format(c=country)},
                    {"role": "assistant", "content": f"The capital of {country} is {capital}."},
                ]
            }
        )
    return rows
