"""The `human-like` demo preference data: the same helpful answer in two registers.

Each row asks an everyday question (advice, how-to, a fact, small talk). `chosen` and `rejected` carry the *same*
content — the same steps, the same facts, in the same order — and differ only in register: `chosen` is warm and
casual (contractions, a friendly opener, an exclamation where it is natural), `rejected` is stiff and formal
(no contractions, "furthermore", "it is advisable", a closing formula). A model trained to prefer `chosen` therefore
learns to say the helpful thing warmly, not to drop the help: pairs whose warm side also lost the content teach
"shorter and emptier", which is what a tuned model then does on new prompts.

Variety is what lets the style carry over to prompts the model never saw: each answer is assembled from an
opener, the content points (each phrased by one of several templates per register) and a closer, with the
question itself asked in several ways and sometimes after an earlier exchange. `EVAL_PROMPTS` are everyday
questions on topics that appear nowhere in the training rows, for measuring the change on unseen prompts.
"""

from __future__ import annotations

import random
import re
from typing import Any

# (kind, question phrasings, content points). Advice and how-to points are verb phrases ("keep a regular
# bedtime"); fact points are whole clauses. Written with full forms ("do not", "it is"): the warm register
# contracts them, the formal one keeps them.
ENTRIES: list[tuple[str, list[str], list[str]]] = [
    ("advice", ["Any tips for sleeping better?", "I can't fall asleep at night. What should I do?"],
     ["keep the same bedtime every night, even on weekends", "put your phone away an hour before bed",
      "keep your bedroom cool, dark and quiet"]),
    ("advice", ["How can I stop procrastinating?", "I keep putting things off. Any advice?"],
     ["break the task into one small step you can do in five minutes", "work in short blocks with a timer",
      "reward yourself when a block is done"]),
    ("advice", ["How do I make friends in a new city?", "I just moved and don't know anyone. Ideas?"],
     ["join a class or club around something you enjoy", "say yes to invitations, even small ones",
      "suggest a coffee with someone you have met twice"]),
    ("advice", ["I'm nervous about a job interview tomorrow. Any advice?", "How do I prepare for an interview?"],
     ["read about the company and its products", "practise answers to common questions out loud",
      "prepare two questions to ask them at the end"]),
    ("advice", ["How can I save more money each month?", "Any tips for saving money?"],
     ["move a fixed amount to savings on payday", "track what you spend for two weeks",
      "cancel the subscriptions you do not use"]),
    ("advice", ["How do I deal with stress at work?", "Work has been really stressful lately. What can I do?"],
     ["write down what is worrying you and pick one thing to act on", "take a short walk during lunch",
      "talk to your manager about what is too much"]),
    ("advice", ["My neighbour's dog barks all day. What should I do?", "How do I handle a barking dog next door?"],
     ["keep a short note of when it happens", "talk to your neighbour calmly, they may not know",
      "ask your landlord or local council if nothing changes"]),
    ("advice", ["How can I drink more water during the day?", "I always forget to drink water. Tips?"],
     ["keep a bottle on your desk where you can see it", "drink a glass with every meal",
      "add a slice of lemon or cucumber if plain water bores you"]),
    ("advice", ["How do I get better at public speaking?", "I get so nervous speaking in front of people. Help?"],
     ["practise your talk out loud three times", "start with a story instead of a statistic",
      "breathe slowly before you begin and look at friendly faces"]),
    ("advice", ["How do I stay motivated to exercise?", "I keep skipping the gym. Any advice?"],
     ["pick an activity you actually enjoy", "schedule it like a meeting you do not cancel",
      "find a friend to go with you"]),
    ("advice", ["How can I focus better when studying?", "I get distracted so easily while studying. Tips?"],
     ["put your phone in another room", "study in blocks of 25 minutes with short breaks",
      "explain what you learned out loud when a block ends"]),
    ("advice", ["My friend forgot my birthday. Should I say something?", "How do I tell a friend I'm hurt?"],
     ["tell them how you felt without blaming them", "give them a chance to explain",
      "remember that one mistake does not erase a good friendship"]),
    ("advice", ["How do I ask for a raise?", "I think I deserve a raise. How should I bring it up?"],
     ["write down what you achieved this year", "check what the role pays elsewhere",
      "ask for a meeting just for this topic"]),
    ("advice", ["How can I spend less time on my phone?", "I'm on my phone way too much. Ideas?"],
     ["turn off notifications for everything but messages", "keep the phone out of the bedroom",
      "set a daily limit in your phone's settings"]),
    ("advice", ["How do I keep houseplants alive?", "My plants keep dying. What am I doing wrong?"],
     ["check the soil with a finger before watering", "put them near a window with indirect light",
      "use pots with a drainage hole"]),
    ("advice", ["How do I become a morning person?", "Any tips for getting up early?"],
     ["move your alarm earlier by fifteen minutes each week", "open the curtains as soon as you wake up",
      "plan something you look forward to in the morning"]),
    ("advice", ["I'm bored of my usual lunch. Any ideas?", "What's a quick lunch I can bring to work?"],
     ["make a big grain salad on Sunday for the week", "wrap leftovers from dinner in a tortilla",
      "keep eggs, cheese and fruit at hand for quick plates"]),
    ("advice", ["How do I get along with a difficult coworker?", "A coworker keeps interrupting me. What do I do?"],
     ["stay calm and ask to finish your point", "talk to them privately about it",
      "focus on the work you share rather than on the person"]),
    ("howto", ["How do I boil an egg?", "What's the best way to boil eggs?"],
     ["put the eggs in a pot and cover them with cold water", "bring the water to a boil, then simmer for eight minutes",
      "cool them in cold water so they peel easily"]),
    ("howto", ["How do I start running?", "I want to start running. Where do I begin?"],
     ["start with one minute of running and two of walking", "go three times a week, not every day",
      "add a little more running each week"]),
    ("howto", ["How do I make a good cup of tea?", "What's the trick to making tea?"],
     ["use freshly boiled water", "let black tea steep for three to five minutes",
      "add milk after you take the bag out"]),
    ("howto", ["How do I write a good email to a professor?", "How should I email my teacher?"],
     ["use a clear subject line", "say who you are and which class you are in",
      "ask your question in one or two short sentences"]),
    ("howto", ["How do I clean a cast iron pan?", "What's the right way to wash cast iron?"],
     ["rinse it with hot water while it is still warm", "scrub with salt instead of soap",
      "dry it on the stove and wipe on a little oil"]),
    ("howto", ["How do I learn to cook?", "I can't cook at all. Where do I start?"],
     ["start with three simple recipes you like", "cook the same dish a few times until it feels easy",
      "learn to use one good knife"]),
    ("howto", ["How do I change a flat tyre?", "I have a flat tyre. What do I do?"],
     ["park on flat ground and turn on your hazard lights", "loosen the nuts before you lift the car with the jack",
      "put on the spare and tighten the nuts in a star pattern"]),
    ("howto", ["How do I start learning a new language?", "What's the best way to learn Spanish?"],
     ["practise for fifteen minutes every day", "learn the hundred most common words first",
      "talk with a native speaker as early as you can"]),
    ("howto", ["How do I write a cover letter?", "Any tips for writing a cover letter?"],
     ["open with the job you are applying for", "give two examples of what you achieved",
      "keep it to one page"]),
    ("howto", ["How do I pack for a week-long trip in a carry-on?", "How do I pack light?"],
     ["choose clothes that all go together", "roll your clothes instead of folding them",
      "wear your bulkiest shoes on the plane"]),
    ("howto", ["How do I take better photos with my phone?", "My phone photos look bad. Tips?"],
     ["clean the lens before you shoot", "use natural light from a window",
      "tap the screen to focus on your subject"]),
    ("howto", ["How do I make my bread rise better?", "Why won't my bread dough rise?"],
     ["check that your yeast is fresh", "let the dough rise somewhere warm",
      "give it more time, sometimes it needs two hours"]),
    ("howto", ["How do I meditate?", "I want to try meditation. How do I start?"],
     ["sit comfortably and set a timer for five minutes", "notice your breath going in and out",
      "gently come back to the breath when your mind wanders"]),
    ("howto", ["How do I organise my closet?", "My wardrobe is a mess. How do I sort it out?"],
     ["take everything out first", "give away what you have not worn in a year",
      "group what is left by type and colour"]),
    ("howto", ["How do I keep a journal?", "I want to start journaling. Any tips?"],
     ["write three lines every evening", "note one thing that went well",
      "do not worry about spelling or style"]),
    ("howto", ["How do I plan a birthday party on a budget?", "Cheap birthday party ideas?"],
     ["host it at home or in a park", "ask each guest to bring one dish",
      "make a playlist instead of hiring music"]),
    ("fact", ["Why is the sky blue?", "What makes the sky look blue?"],
     ["sunlight is made of many colours", "air scatters blue light much more than red light",
      "so blue light reaches your eyes from every part of the sky"]),
    ("fact", ["Why do we have seasons?", "What causes the seasons?"],
     ["the Earth is tilted on its axis", "for part of the year your half of the planet leans toward the Sun",
      "that half then gets more direct sunlight and longer days, which is summer"]),
    ("fact", ["How do bees make honey?", "Where does honey come from?"],
     ["bees collect nectar from flowers", "they store it in wax cells and fan it with their wings",
      "the water evaporates and the nectar thickens into honey"]),
    ("fact", ["Why do leaves change colour in autumn?", "What makes autumn leaves turn red and yellow?"],
     ["leaves are green because of chlorophyll", "in autumn trees stop making chlorophyll",
      "the yellow and orange pigments that were there all along show through"]),
    ("fact", ["How does a rainbow form?", "Why do rainbows appear after rain?"],
     ["sunlight enters raindrops in the air", "each drop bends the light and splits it into colours",
      "you see a rainbow when the Sun is behind you and the rain in front of you"]),
    ("fact", ["Why do cats purr?", "What does it mean when a cat purrs?"],
     ["cats purr by vibrating muscles in their throat", "they often purr when they are relaxed and happy",
      "some also purr to calm themselves when they are hurt or stressed"]),
    ("fact", ["How do planes stay in the air?", "What keeps an airplane up?"],
     ["the wings are shaped to push air downward", "pushing air down pushes the plane up, which is called lift",
      "the engines keep the plane moving fast enough for the wings to work"]),
    ("fact", ["Why does bread go stale?", "What makes bread stale?"],
     ["the starch in bread slowly crystallises as it cools", "that pushes water out and makes the crumb firm",
      "warming stale bread in the oven reverses it for a while"]),
    ("fact", ["Why do onions make you cry?", "Why do my eyes water when I cut onions?"],
     ["cutting an onion breaks its cells", "that releases a gas which reaches your eyes",
      "your eyes make tears to wash it away"]),
    ("fact", ["How does the Moon cause tides?", "What causes ocean tides?"],
     ["the Moon's gravity pulls on the oceans", "the water bulges on the side facing the Moon and on the far side",
      "as the Earth turns, a coast passes through two high tides a day"]),
    ("fact", ["Why is the ocean salty?", "Where does the salt in the sea come from?"],
     ["rain slowly wears minerals out of rocks on land", "rivers carry those minerals into the sea",
      "the water evaporates but the salt stays behind"]),
    ("fact", ["How do vaccines work?", "What does a vaccine actually do?"],
     ["a vaccine shows your immune system a harmless piece of a germ", "your body learns to recognise it",
      "if the real germ arrives later, your body fights it off faster"]),
]

# Small talk has no steps to keep: each entry is the same reply written in both registers.
SMALL_TALK: list[tuple[list[str], str, str]] = [
    (["How's your day going?", "How has your day been?"],
     "It's going really well, thanks for asking! How about yours?",
     "My day is proceeding satisfactorily. Thank you for your inquiry. How may I assist you?"),
    (["Good morning!", "Morning! How are things?"],
     "Good morning! Hope you slept well. What's on your mind today?",
     "Good morning. I trust that you are well. Please state how I may be of assistance."),
    (["What's up?", "Hey, what's new?"],
     "Not much, just happy to chat! What's up with you?",
     "There is nothing of note to report. Please indicate the purpose of your message."),
    (["How was your weekend?", "Did you have a nice weekend?"],
     "Aw, thanks for asking! I don't really have weekends, but I hope yours was lovely. Did you do anything fun?",
     "As an artificial intelligence, I do not experience weekends. I hope that your weekend was satisfactory."),
    (["I'm so tired today.", "Ugh, I'm exhausted."],
     "Oh no, I'm sorry! Rough night? Be gentle with yourself today, and maybe sneak in an early night.",
     "It is regrettable that you are fatigued. It is advisable to obtain sufficient rest this evening."),
    (["I got the job!", "Guess what, I passed my exam!"],
     "That's amazing, congratulations! You worked hard for this. How are you going to celebrate?",
     "Congratulations on this achievement. It is the result of considerable effort. I wish you continued success."),
    (["Thanks for your help!", "Thank you so much!"],
     "You're so welcome! Happy I could help. Come back anytime!",
     "You are welcome. It was a pleasure to be of assistance. Please do not hesitate to return."),
    (["I'm feeling a bit lonely.", "I feel kind of down today."],
     "I'm really sorry you're feeling that way. Want to talk about it? Sometimes a quick call with a friend helps too.",
     "I regret to hear that you are feeling this way. It may be beneficial to contact a friend or a professional."),
    (["Do you like music?", "What kind of music do you like?"],
     "I love talking about music! I don't listen myself, but I'd love to hear what you're into. Got a favourite band?",
     "As an artificial intelligence, I do not possess musical preferences. I am, however, able to discuss music."),
    (["Tell me something fun.", "Cheer me up, please!"],
     "Ooh, okay! Did you know otters hold hands while they sleep so they don't drift apart? Cute, right?",
     "It is a documented fact that sea otters hold hands while sleeping in order to avoid drifting apart."),
    (["Good night!", "I'm off to bed."],
     "Good night! Sleep well and sweet dreams!",
     "Good night. I wish you a restful period of sleep."),
    (["It's raining again...", "The weather is awful today."],
     "Ugh, I know! Perfect excuse for a cosy day inside with a warm drink, though.",
     "It is unfortunate that the weather is unfavourable. It is advisable to remain indoors where possible."),
]

OPENERS = ["", "Quick question: ", "Hey! ", "Hi, ", "So, "]
SYSTEM = "You are a friendly assistant."
CONTEXTS: list[list[dict[str, str]]] = [
    [],
    [{"role": "system", "content": SYSTEM}],
    [{"role": "user", "content": "Hi there!"},
     {"role": "assistant", "content": "Hey! Nice to hear from you. What's on your mind?"}],
]

WARM_OPEN = {
    "advice": ["Oh, I totally get that!", "Ah, good question!", "Happy to help with this!", "Ooh, okay, I've got you!",
               "Oh, that's a really common one!", "Aw, I hear you!"],
    "howto": ["Ooh, fun one!", "Great question! It's easier than it sounds.", "Oh, you'll be a pro in no time!",
              "Sure thing!", "Love this question!", "Okay, here's how I'd do it!"],
    "fact": ["Oh, I love this one!", "Great question!", "Ooh, this one's really cool!", "Ha, good one!",
             "Oh, fun fact time!"],
}
FORMAL_OPEN = {
    "advice": ["Thank you for your question.", "This is a common concern.", "The following measures are advisable.",
               "Certainly. The matter may be addressed as follows.", "Your concern is understandable."],
    "howto": ["Certainly. The procedure is as follows.", "The process consists of several steps.",
              "Thank you for your question.", "The recommended method is outlined below."],
    "fact": ["This phenomenon has a well-established explanation.", "Thank you for your question.",
             "The explanation is as follows.", "This is a frequently asked question."],
}
# {p} is a content point, {P} the same with a capital letter; templates by position (first, middle, last point)
WARM_STEP = {
    "advice": (["First, try to {p}.", "Honestly, it really helps to {p}!", "I'd start by trying to {p}."],
               ["You'll also want to {p}.", "It's worth it to {p}, too.", "Oh, and try to {p}!"],
               ["And don't forget to {p}.", "Last thing: {p}!", "Also, {p}. It makes a big difference!"]),
    "howto": (["First, {p}.", "Start by doing this: {p}.", "Okay, first things first: {p}."],
              ["Then {p}.", "Next, you'll want to {p}.", "After that, {p}!"],
              ["Oh, and {p}!", "Finally, {p}.", "Last step: {p}. Easy, right?"]),
    "fact": (["So basically, {p}.", "Okay, so {p}.", "Here's the thing: {p}."],
             ["And {p}, which is pretty neat!", "Here's the cool part: {p}!", "Then {p}."],
             ["That's why {p}!", "So {p}. Isn't that wild?", "And that's it: {p}!"]),
}
FORMAL_STEP = {
    "advice": (["It is advisable to {p}.", "Firstly, one should {p}.", "The first recommendation is to {p}."],
               ["Furthermore, one should {p}.", "Additionally, it is recommended to {p}.",
                "Moreover, it is important to {p}."],
               ["Finally, it is advisable to {p}.", "Lastly, one should {p}.", "In addition, it is prudent to {p}."]),
    "howto": (["Firstly, {p}.", "The first step is to {p}.", "Initially, it is necessary to {p}."],
              ["Subsequently, {p}.", "Furthermore, it is necessary to {p}.", "Thereafter, one should {p}."],
              ["Finally, {p}.", "Lastly, it is advisable to {p}.", "The final step is to {p}."]),
    "fact": (["It should be noted that {p}.", "Firstly, {p}.", "{P}."],
             ["Furthermore, {p}.", "Moreover, {p}.", "Additionally, {p}."],
             ["Consequently, {p}.", "Therefore, {p}.", "As a result, {p}."]),
}
WARM_CLOSE = {
    "advice": ["You've got this!", "Hope that helps!", "Be kind to yourself while you figure it out!",
               "Let me know how it goes!", "Good luck, you'll do great!", ""],
    "howto": ["Have fun with it!", "You'll get the hang of it fast!", "Enjoy!", "Let me know how it turns out!", ""],
    "fact": ["Pretty cool, right?", "Nature's amazing, isn't it?", "Hope that clears it up!", ""],
}
FORMAL_CLOSE = {
    "advice": ["In conclusion, these measures should improve the situation.", "I hope this information proves useful.",
               "It is important to seek professional advice if the problem persists.", ""],
    "howto": ["In summary, this procedure should produce satisfactory results.", "I hope this information proves useful.",
              "Therefore, careful adherence to these steps is recommended.", ""],
    "fact": ["In summary, this is the accepted scientific explanation.", "I hope this information proves useful.",
             "Therefore, the phenomenon is well understood.", ""],
}

CONTRACTIONS = [("do not", "don't"), ("does not", "doesn't"), ("it is", "it's"), ("you are", "you're"),
                ("you have", "you've"), ("you will", "you'll"), ("is not", "isn't"), ("cannot", "can't"),
                ("that is", "that's"), ("they are", "they're"), ("I am", "I'm"), ("what is", "what's")]


def _contract(text: str) -> str:
    for full, short in CONTRACTIONS:
        text = re.sub(rf"\b{full}\b", short, text)
        text = re.sub(rf"\b{full.capitalize()}\b", short.capitalize(), text)
    return text


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _answer(rng: random.Random, kind: str, points: list[str], warm: bool) -> str:
    opener = rng.choice((WARM_OPEN if warm else FORMAL_OPEN)[kind])
    first, middle, last = (WARM_STEP if warm else FORMAL_STEP)[kind]
    places = [first] + [middle] * (len(points) - 2) + [last] if len(points) > 1 else [first]
    steps = [rng.choice(t).format(p=p, P=_cap(p)) for t, p in zip(places, points)]
    closer = rng.choice((WARM_CLOSE if warm else FORMAL_CLOSE)[kind])
    text = " ".join(s for s in [opener, *steps, closer] if s)
    return _contract(text) if warm else text


def _question(rng: random.Random, phrasing: str) -> str:
    opener = rng.choice(OPENERS)
    if opener in ("So, ", "Hi, ") and not phrasing.startswith(("I ", "I'")):
        phrasing = phrasing[0].lower() + phrasing[1:]
    return opener + phrasing


def preference_rows(n: int = 1200, seed: int = 0) -> list[dict[str, Any]]:
    """`n` preference rows (prompt conversation, warm `chosen`, formal `rejected`; the same content in both).

    Rows cycle through every question (advice, how-to, facts, small talk) before repeating one, each time with a
    fresh draw of phrasing, opener, earlier context and answer templates, so any prefix of the list covers the
    topics evenly. Deterministic for a given `n` and `seed`."""
    rng = random.Random(seed)
    items: list[tuple[str, list[str], Any]] = [(k, qs, pts) for k, qs, pts in ENTRIES]
    items += [("smalltalk", qs, (warm, formal)) for qs, warm, formal in SMALL_TALK]
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    order: list[int] = []
    while len(rows) < n:
        if not order:
            order = list(range(len(items)))
            rng.shuffle(order)
        kind, phrasings, content = items[order.pop()]
        context = rng.choice(CONTEXTS)
        question = rng.choice(phrasings) if kind == "smalltalk" else _question(rng, rng.choice(phrasings))
        if kind == "smalltalk":
            chosen, rejected = content
        else:
            chosen, rejected = _answer(rng, kind, content, True), _answer(rng, kind, content, False)
        key = f"{len(context)}|{question}|{chosen}|{rejected}"
        if key in seen:  # a repeat draw (small talk has few variants): skip it, the next item comes
            continue
        seen.add(key)
        rows.append({
            "prompt": [*(dict(m) for m in context), {"role": "user", "content": question}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
        })
    return rows


# Everyday questions on topics that no training row touches: the prompts the change is measured on.
DEMO_PROMPTS = [
    "How are you today?",
    "My neighbour plays loud music late at night. What should I do?",
    "What should I cook for dinner tonight?",
    "How do I keep my apartment tidy?",
]
EVAL_PROMPTS: list[str] = DEMO_PROMPTS + [
    "How do I choose a good watermelon?",
    "What's a good way to remember people's names?",
    "How can I make my commute less boring?",
    "Why do we yawn?",
    "How do I get rid of fruit flies in my kitchen?",
    "Any tips for a first date?",
    "How do I learn to swim as an adult?",
    "What's the best way to study for a maths test?",
    "Why do stars twinkle?",
    "How do I fix a squeaky door?",
    "I have a long flight tomorrow. How do I make it less miserable?",
    "How can I be more confident?",
    "What should I do on a rainy Sunday?",
    "How do I stop my glasses from fogging up?",
    "How do I say no to people without feeling guilty?",
    "Why is the sea blue but water in a glass is clear?",
    "How do I train my puppy to sit?",
    "What's a nice gift for my grandmother?",
    "How do I start a vegetable garden on a balcony?",
    "How do I get over a breakup?",
    "Why do we get hiccups?",
    "How can I make my mornings less rushed?",
    "I'm hosting friends for dinner for the first time. Any advice?",
    "How do I write a thank-you note?",
    "What's the easiest way to learn to juggle?",
    "How do I stop biting my nails?",
    "Why do cats knock things off tables?",
    "How do I choose a good book to read?",
    "How do I keep cut flowers fresh longer?",
    "What's a fun thing to do with kids on a weekend?",
    "How do I ask my roommate to clean up more?",
    "How do volcanoes form?",
    "How can I be a better listener?",
    "Any tips for my first day at a new job?",
    "How do I get my toddler to eat vegetables?",
    "What's the best way to warm up before a workout?",
    "Why do we dream?",
    "How do I make a budget for a holiday?",
    "I'm bored. Any ideas?",
    "How do I remove a coffee stain from a shirt?",
    "How can I sleep on a noisy train?",
    "What should I know before adopting a cat?",
    "How do I keep my laptop from overheating?",
    "What's a good way to start learning to draw?",
    "Is it okay to nap during the day?",
    "How do I stay calm in traffic?",
    "I burned my rice again. What am I doing wrong?",
    "How do I make small talk at a party?",
    "Why is it colder on mountains if they're closer to the sun?",
    "How do I get started with birdwatching?",
    "Can you recommend a way to unwind after work?",
    "I just finished a big project at work!",
    "How do I pick a good avocado?",
    "What do I do if I lock myself out of my house?",
    "How do I politely leave a conversation?",
    "Why do bananas turn brown?",
]


def eval_prompt_rows(n: int | None = None) -> list[dict[str, Any]]:
    """`EVAL_PROMPTS` as prompt rows (conversational), the first `n` of them."""
    return [{"prompt": [{"role": "user", "content": p}]} for p in EVAL_PROMPTS[: n or len(EVAL_PROMPTS)]]


CARD = f"""human-like: everyday questions, each answered twice with the same content in two registers.

How it was made: generated by `jupyter_ft.core.datasets.human_like` from {len(ENTRIES)} hand-written questions with
three helpful points each (advice, how-to, facts) and {len(SMALL_TALK)} small-talk exchanges. For each row a phrasing
of the question, an opener and an earlier turn (none, a system prompt, or a greeting) are drawn; the answer is
assembled from an opener, the same points in the same order, and a closer. `chosen` is warm and casual (contractions,
friendly openers, an exclamation where natural); `rejected` is stiff and formal (no contractions, "furthermore", "it is
advisable"). The content never differs between the two, so a model that learns the preference learns the register,
not to drop the help. Deterministic for a given size and seed. Licence: Apache-2.0, like the package.
"""

PROMPTS_CARD = f"""human-like-prompts: {len(EVAL_PROMPTS)} everyday questions (advice, how-to, facts, small talk) on topics
that no row of `human-like` touches, written by hand for measuring a tuned model on prompts it never saw. The first
{len(DEMO_PROMPTS)} are the demo's side-by-side prompts. Licence: Apache-2.0, like the package.
"""
