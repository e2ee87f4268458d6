"""Style markers of one answer, counted without a model: how warm, direct and informal it reads.

Why these: a style-tuned model is meant to sound like a person talking to you, and the surface signs of that can
be counted exactly, so a change is measured rather than judged: exclamation marks, contractions, addressing the
reader ("you"), stiff essay connectives ("furthermore", "in conclusion"), and sentence and answer length.

Words are runs of letters and digits, an apostrophe (' or ’) joining them ("don't", "you're", "y'all" are one
word each). Rates are per 100 words (0 for an empty answer). Pure Python: the evaluation job, the demo and a
notebook count the same way.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)*")
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")

SECOND_PERSON = frozenset({"you", "your", "yours", "yourself", "yourselves", "you're", "you've", "you'll", "you'd",
                           "y'all"})
# "'s" is also the possessive ("Anna's"), so it counts as a contraction only after these words
_S_CONTRACTED = frozenset({"it", "that", "what", "there", "here", "he", "she", "who", "where", "how", "when", "why",
                           "let", "everything", "nothing", "everyone", "someone", "something", "this"})
_CONTRACTED_TAILS = ("n't", "'re", "'ve", "'ll", "'d", "'m")
FORMAL_MARKERS = ("furthermore", "therefore", "in conclusion", "it is important", "moreover", "additionally",
                  "it should be noted", "in summary", "however,", "thus", "hence", "consequently", "nevertheless",
                  "in addition", "it is worth noting", "to summarize", "to summarise")
_FORMAL = re.compile("|".join(r"\b" + re.escape(m).replace(r"\ ", r"\s+") + (r"\b" if m[-1].isalnum() else "")
                              for m in sorted(FORMAL_MARKERS, key=len, reverse=True)), re.IGNORECASE)

STYLE_METRICS = ("exclamations", "contractions_per_100w", "second_person_per_100w", "formal_markers",
                 "sentence_length", "length_words")


def words(text: str) -> list[str]:
    """The answer's words, lower-cased, with the typographic apostrophe made plain."""
    return [w.lower().replace("’", "'") for w in WORD.findall(text or "")]


def is_contraction(word: str) -> bool:
    """`don't`, `you're`, `I'm`, `we'll`, `it's`, `let's`, `y'all` (a lower-cased word from `words`)."""
    if word == "y'all" or word.endswith(_CONTRACTED_TAILS):
        return True
    return word.endswith("'s") and word[:-2] in _S_CONTRACTED


def sentences(text: str) -> list[list[str]]:
    """The words of each sentence (split after . ! ? … and at line breaks; pieces without words dropped)."""
    return [w for part in SENTENCE_END.split(text or "") if (w := words(part))]


def formal_markers(text: str) -> int:
    """How many formal connectives the answer uses (phrases of `FORMAL_MARKERS`, case ignored, not overlapping)."""
    return len(_FORMAL.findall(text or ""))


def style_scores(answer: str) -> dict[str, float]:
    """Per-answer style metrics (the keys of `STYLE_METRICS`):

    - `exclamations`: '!' characters;
    - `contractions_per_100w`, `second_person_per_100w`: per 100 words;
    - `formal_markers`: count of formal connectives;
    - `sentence_length`: mean words per sentence (0 for an empty answer);
    - `length_words`: words."""
    ws = words(answer)
    n = len(ws)
    per_100 = (100.0 / n) if n else 0.0
    sents = sentences(answer)
    return {
        "exclamations": float((answer or "").count("!")),
        "contractions_per_100w": sum(map(is_contraction, ws)) * per_100,
        "second_person_per_100w": sum(w in SECOND_PERSON for w in ws) * per_100,
        "formal_markers": float(formal_markers(answer)),
        "sentence_length": (sum(map(len, sents)) / len(sents)) if sents else 0.0,
        "length_words": float(n),
    }
