"""Demo datasets written by this project, generated from templates so their size is adjustable.

`preference_rows` has the shape of public "human-like" DPO datasets: a conversational prompt, a warm,
informal `chosen` answer and a stiff, formal `rejected` one. `sft_rows` is a small, memorisable chat set
used by the SFT demo and tests. Both are deterministic for a given `n` and `seed`.
"""

from __future__ import annotations

import random
from typing import Any

TOPICS: list[tuple[str, str, str]] = [
    # (topic, a casual detail, a formal detail)
    ("coffee", "a cup in the morning just hits different", "caffeine consumption is a matter of personal preference"),
    ("rainy days", "rain on the window is the best background noise", "precipitation has no inherent emotional valence"),
    ("learning to cook", "burning the first pancake is basically tradition", "culinary proficiency requires practice"),
    ("dogs", "they get so ridiculously happy when you come home", "canines are domesticated mammals"),
    ("cats", "they pretend not to care and then sit on your keyboard", "felines are domesticated mammals"),
    ("running", "the first mile is always the worst, then it clicks", "aerobic exercise has documented benefits"),
    ("reading before bed", "one more chapter turns into three real fast", "reading prior to sleep is a common habit"),
    ("gardening", "there's nothing like eating a tomato you grew yourself", "horticulture involves cultivating plants"),
    ("moving to a new city", "it's scary at first but you find your spots", "relocation entails logistical adjustment"),
    ("learning guitar", "your fingers hurt for a week and then it's magic", "instrument acquisition requires repetition"),
    ("weekend plans", "honestly a slow Saturday is underrated", "leisure time allocation varies by individual"),
    ("board games", "someone always flips the table at Monopoly", "tabletop games are a recreational activity"),
    ("public speaking", "everyone's nervous, the trick is to breathe", "oratory skills can be systematically improved"),
    ("houseplants", "I've killed a cactus, so no judgement here", "indoor plants require appropriate irrigation"),
    ("baking bread", "the smell alone makes it worth it", "bread production involves fermentation"),
    ("road trips", "the snacks are at least half the fun", "automobile travel requires route planning"),
    ("camping", "s'mores fix pretty much everything", "outdoor recreation requires appropriate equipment"),
    ("learning a language", "ordering food in it for the first time feels amazing", "language acquisition is gradual"),
    ("video games", "just one more level, famous last words", "interactive entertainment is widely consumed"),
    ("the beach", "sand gets everywhere and I still love it", "coastal areas are frequently visited"),
    ("music festivals", "you'll lose your voice and regret nothing", "large events involve crowd management"),
    ("working from home", "pajama bottoms on video calls, no shame", "remote work arrangements vary by employer"),
    ("making friends as an adult", "saying yes to random invites really helps", "social networks evolve over time"),
    ("thrift shopping", "finding a great jacket for five bucks is a rush", "second-hand retail offers reduced prices"),
    ("hiking", "the view at the top makes the sore legs worth it", "hiking trails vary in difficulty"),
]

ASKS = [
    "What do you think about {t}?",
    "Any tips for getting into {t}?",
    "I've been thinking about {t} lately. Thoughts?",
    "Is getting into {t} actually worth it?",
    "Can you tell me something about {t}?",
    "My friend keeps talking about {t}. What's the deal?",
    "How do I start with {t}?",
    "Why do people like {t} so much?",
    "I'm kind of nervous about {t}. Any advice?",
    "What's the best part of {t}, in your opinion?",
    "Be honest: do people overrate {t}?",
    "I tried {t} once and didn't get it. What am I missing?",
]

OPENERS = ["", "Quick question: ", "Hey! ", "Random thought, but ", "So, "]
WARM_CLOSERS = ["", " Have fun!", " You'll be great.", " Cheers!"]
FORMAL_CLOSERS = ["", " Regards.", " Thank you for your inquiry."]

WARM = [
    "Oh, I love this one! Honestly, {casual}. Give it a go and see how it feels for you.",
    "Ha, great question. For me, {casual}. Start small and have fun with it!",
    "Ooh, {t}! Okay so, {casual}. You've totally got this.",
    "Honestly? {casual_cap}. Don't overthink it, just jump in.",
    "So glad you asked! {casual_cap}, and that's half the charm, right?",
    "Aw, I get it. {casual_cap}. Take it easy on yourself while you figure it out.",
    "Okay, real talk: {casual}. Try it this week and tell me how it goes!",
    "Yes! {casual_cap}. Honestly there's no wrong way to do it.",
    "Haha, I've been there. {casual_cap}. Be patient with yourself, it gets easier.",
    "Love that you're curious about {t}! {casual_cap}. Enjoy the ride.",
]

FORMAL = [
    "The subject of {t} can be addressed as follows: {formal}. Further research is recommended.",
    "In response to your inquiry regarding {t}: {formal}. Individual results may vary.",
    "It should be noted that {formal}. Consequently, an informed decision is advised.",
    "Regarding {t}, the following information is provided: {formal}. No further comment is offered.",
    "Your query has been received. {formal_cap}. Please consult relevant literature.",
    "With respect to {t}, it is observed that {formal}. This concludes the response.",
    "The requested information is as follows. {formal_cap}. Additional sources may be consulted.",
    "Per your request concerning {t}: {formal}. Outcomes depend on individual circumstances.",
]

SYSTEM = "You are a friendly assistant."

# earlier turns some prompts carry, so the prompts are real conversations and not only one question
CONTEXTS: list[list[dict[str, str]]] = [
    [],
    [{"role": "system", "content": SYSTEM}],
    [{"role": "user", "content": "Hi there!"},
     {"role": "assistant", "content": "Hey! Nice to hear from you. What's on your mind?"}],
]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def preference_rows(n: int = 1200, seed: int = 0) -> list[dict[str, Any]]:
    """`n` conversational preference rows: prompt (a conversation ending on a user turn), chosen (warm, informal),
    rejected (stiff, formal). Rows are distinct combinations of topic, question, opener, context, answer and closing
    templates (over four million) drawn without repetition, so any size up to that has no duplicate rows."""
    rng = random.Random(seed)
    dims = [len(TOPICS), len(ASKS), len(OPENERS), len(CONTEXTS), len(WARM), len(FORMAL), len(WARM_CLOSERS),
            len(FORMAL_CLOSERS)]
    space = 1
    for d in dims:
        space *= d
    picks: list[int] = []
    while len(picks) < n:  # beyond the space, start another pass (repeats only then)
        picks += rng.sample(range(space), min(n - len(picks), space))
    rows: list[dict[str, Any]] = []
    for code in picks:
        idx = []
        for d in dims:
            code, r = divmod(code, d)
            idx.append(r)
        (topic, casual, formal), ask, opener, context, warm, stiff = (
            TOPICS[idx[0]], ASKS[idx[1]], OPENERS[idx[2]], CONTEXTS[idx[3]], WARM[idx[4]], FORMAL[idx[5]])
        question = ask.format(t=topic)
        if opener in ("Random thought, but ", "So, ") and not question.startswith(("I ", "I'")):  # mid-sentence
            question = question[0].lower() + question[1:]
        question = opener + question
        fields = {"t": topic, "casual": casual, "casual_cap": _cap(casual), "formal": formal, "formal_cap": _cap(formal)}
        rows.append(
            {
                "prompt": [*(dict(m) for m in context), {"role": "user", "content": question}],
                "chosen": [{"role": "assistant", "content": warm.format(**fields) + WARM_CLOSERS[idx[6]]}],
                "rejected": [{"role": "assistant", "content": stiff.format(**fields) + FORMAL_CLOSERS[idx[7]]}],
            }
        )
    return rows


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
