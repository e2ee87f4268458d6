"""Degeneration of one generated answer: repeated n-grams and loops, counted without a model.

Tuning can make a model repeat itself ("I love it! I love it! I love it!…" until `max_new_tokens`), which a style
or a reward metric can mistake for success. Every evaluation of generated text reports, per answer:

- `repeated_3gram_rate`: 1 - distinct 3-grams / all 3-grams of the answer's words (seq-rep-3 of Welleck et al.,
  "Neural Text Generation with Unlikelihood Training", 2019); 0 for an answer without repeats or under 3 words;
- `looping`: 1 when the answer holds a loop: a unit of 1 to `MAX_UNIT` words repeated at least `LOOP_REPEATS`
  times back to back, the run covering at least `MIN_LOOP_WORDS` words (so "ha ha ha" is not a loop, "the the the
  the the the" is; a loop cut off by the token limit still counts once its whole repeats do), or one sentence of at
  least `MIN_SENTENCE_WORDS` words said `LOOP_REPEATS` times or more anywhere in the answer (SmolLM2-135M-Instruct
  circles back to the same sentence with other text between). The mean of `looping` over answers is the share of
  looping answers.

Words are those of `core.evaluate.style.words` (lower-cased, punctuation dropped), so "Yes! Yes! Yes!" and
"yes yes yes" read alike.
"""

from __future__ import annotations

from typing import Sequence

from collections import Counter

from jupyter_ft.core.evaluate.style import sentences, words

NGRAM = 3
MAX_UNIT = 40
LOOP_REPEATS = 3
MIN_LOOP_WORDS = 6
MIN_SENTENCE_WORDS = 3
DEGENERATION_METRICS = ("repeated_3gram_rate", "looping")


def repeated_ngram_rate(ws: Sequence[str], n: int = NGRAM) -> float:
    """1 - distinct n-grams / n-grams of a word list (0 when it has fewer than n words)."""
    grams = [tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def find_loop(ws: Sequence[str], max_unit: int = MAX_UNIT, repeats: int = LOOP_REPEATS,
              min_words: int = MIN_LOOP_WORDS) -> tuple[int, int, int] | None:
    """The first loop in a word list as (start word, unit length, whole repeats), or None.

    For each unit length n, a stretch where word i equals word i+n for L positions in a row is a text of period n
    spanning L + n words, i.e. (L + n) // n whole copies of its first n words."""
    for n in range(1, max_unit + 1):
        need = max(repeats * n, min_words) - n      # equal positions needed in a row
        run = 0
        for i in range(len(ws) - n):
            run = run + 1 if ws[i] == ws[i + n] else 0
            if run >= need:
                start = i - run + 1
                while start + run + n < len(ws) and ws[start + run] == ws[start + run + n]:
                    run += 1                        # the whole run, for the count of repeats
                return start, n, (run + n) // n
    return None


def repeated_sentence(text: str, repeats: int = LOOP_REPEATS, min_words: int = MIN_SENTENCE_WORDS
                      ) -> tuple[str, ...] | None:
    """The words of a sentence of at least `min_words` words that the text says `repeats` times or more, or None."""
    counts = Counter(tuple(s) for s in sentences(text) if len(s) >= min_words)
    return next((s for s, n in counts.most_common(1) if n >= repeats), None)


def degeneration_scores(answer: str) -> dict[str, float]:
    """Per-answer degeneration metrics (the keys of `DEGENERATION_METRICS`)."""
    ws = words(answer)
    looping = find_loop(ws) is not None or repeated_sentence(answer) is not None
    return {"repeated_3gram_rate": repeated_ngram_rate(ws), "looping": float(looping)}
