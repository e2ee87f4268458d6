"""The playground's memory: votes on answers, blind A/B pairs, and the preference dataset votes become.

A vote says which of several answers to one prompt a person preferred (or that it was a tie), with the served
model behind each answer and the generation settings. Votes are rows of a table in the workspace database, written
in one transaction the moment they are cast, so they survive kernels, servers and crashes.

A blind pair is two answers whose models are hidden: the pair (prompt, which model sits in slot A and B, the
answers) is stored server-side when it is created, and the models are revealed only by voting on it. That keeps
the sidebar honest: a browser never sees the models before the vote.

`votes_dataset` turns every non-tie vote into preference rows (prompt / chosen / rejected, conversational) and adds
them to the catalog through the one door (`catalog.add`, technique `dpo`), so the result validates as DPO data
and any job can train on it. Ties, and votes whose answers cannot make a pair (identical or empty), are left out
and counted; the models, settings and vote ids of every row are recorded in the version's source metadata.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import Field, ValidationError

from jupyter_ft.core.spec.base import MAX_LABEL, MAX_SEED, FieldError, Strict
from jupyter_ft.core.workspace import Workspace

TIE = "tie"
SLOTS = ("A", "B")
DEFAULT_DATASET = "playground-votes"
MAX_PROMPT_CHARS = 100_000
MAX_ANSWER_CHARS = 200_000
MAX_ANSWERS = 16

_TABLES = (
    """CREATE TABLE IF NOT EXISTS playground_votes (
        id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        prompt TEXT NOT NULL,          -- JSON: a string or a conversation ending on a user turn
        answers TEXT NOT NULL,         -- JSON {label: text}
        models TEXT NOT NULL,          -- JSON {label: served model name}
        winner TEXT NOT NULL,          -- a label, or 'tie'
        settings TEXT NOT NULL,        -- JSON: the generation settings the answers were made with
        endpoint TEXT,
        pair_id TEXT                   -- the blind pair voted on, if any
    )""",
    "CREATE INDEX IF NOT EXISTS playground_votes_time ON playground_votes(created_at)",
    """CREATE TABLE IF NOT EXISTS playground_pairs (
        id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        prompt TEXT NOT NULL,          -- JSON
        slots TEXT NOT NULL,           -- JSON {"A": model, "B": model}: hidden until the vote
        answers TEXT,                  -- JSON {"A": text, "B": text}, once generated
        settings TEXT NOT NULL,
        endpoint TEXT,
        vote_id TEXT                   -- set by the vote; a pair is voted on once
    )""",
)


class PlaygroundError(ValueError):
    """A bad vote, pair or request; `field` names what is at fault. `status` is the HTTP status a face should use."""

    def __init__(self, field: str | None, message: str, status: int = 400):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        self.status = status


class ChatSettings(Strict):
    """Generation settings of a playground request (the OpenAI chat parameters the endpoint receives)."""

    max_tokens: int = Field(64, ge=1, le=4096, description="tokens to generate per answer")
    temperature: float = Field(0.0, ge=0, le=2, description="0 = greedy")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling when temperature > 0")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="sampling seed (reproducible sampled answers)")

    def describe(self) -> str:
        mode = "greedy" if self.temperature == 0 else f"temperature {self.temperature:g}, top_p {self.top_p:g}"
        seed = f" · seed {self.seed}" if self.seed is not None else ""
        return f"max_tokens {self.max_tokens} · {mode}{seed}"

    def request(self) -> dict[str, Any]:
        """The body fields of a chat request."""
        out: dict[str, Any] = {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p}
        if self.seed is not None:
            out["seed"] = self.seed
        return out


def parse_settings(value: Any, field: str = "settings") -> ChatSettings:
    """`ChatSettings` from a dict (or itself); a bad value raises `PlaygroundError` naming `settings.<key>`."""
    if isinstance(value, ChatSettings):
        return value
    if value is None:
        return ChatSettings()
    if not isinstance(value, dict):
        raise PlaygroundError(field, f"must be an object of generation settings, got {type(value).__name__}")
    try:
        return ChatSettings.model_validate(value)
    except ValidationError as exc:
        e = exc.errors()[0]
        cause = (e.get("ctx") or {}).get("error")
        where = ".".join(str(p) for p in e["loc"]) or (cause.field if isinstance(cause, FieldError) else "")
        msg = "unknown setting (known: max_tokens, temperature, top_p, seed)" if e["type"] == "extra_forbidden" \
            else str(cause) if isinstance(cause, ValueError) else e["msg"]
        raise PlaygroundError(f"{field}.{where}" if where else field, msg) from None


@dataclass(frozen=True)
class Vote:
    id: str
    created_at: float
    prompt: str | list[dict[str, str]]
    answers: dict[str, str]
    models: dict[str, str]
    winner: str
    settings: dict[str, Any]
    endpoint: str | None
    pair_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BlindPair:
    """A pair as the voter sees it: answers by slot, models hidden (`slots` is server-side only)."""

    id: str
    prompt: str | list[dict[str, str]]
    slots: dict[str, str]
    answers: dict[str, str] | None
    settings: dict[str, Any]
    endpoint: str | None
    vote_id: str | None
    created_at: float

    def public(self) -> dict[str, Any]:
        """What a client may see before voting: no models."""
        answers = self.answers or {}
        return {"pair_id": self.id, "answers": [{"slot": s, "text": answers.get(s)} for s in SLOTS]}


# --- validation -----------------------------------------------------------------------------------------------

def check_prompt(prompt: Any, field: str = "prompt") -> str | list[dict[str, str]]:
    """A prompt is a non-empty string or a conversation (role/content messages) ending on a user turn."""
    if isinstance(prompt, str):
        if not prompt.strip():
            raise PlaygroundError(field, "is empty: type something to ask")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise PlaygroundError(field, f"is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
        return prompt
    if isinstance(prompt, list) and prompt:
        for i, m in enumerate(prompt):
            if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
                raise PlaygroundError(f"{field}[{i}]", "must be a message {'role': ..., 'content': ...}")
            if m["role"] not in ("system", "user", "assistant"):
                raise PlaygroundError(f"{field}[{i}].role", f"must be system, user or assistant, got {m['role']!r}")
        if prompt[-1]["role"] != "user":
            raise PlaygroundError(field, "a conversation must end on a user turn (the one the models answer)")
        if sum(len(m["content"]) for m in prompt) > MAX_PROMPT_CHARS:
            raise PlaygroundError(field, f"is longer than {MAX_PROMPT_CHARS} characters")
        return [{"role": m["role"], "content": m["content"]} for m in prompt]
    raise PlaygroundError(field, f"must be a string or a list of messages, got {type(prompt).__name__}")


def messages_of(prompt: str | list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


def prompt_text(prompt: str | list[dict[str, str]]) -> str:
    """The prompt as one line of text (the last user turn of a conversation)."""
    return prompt if isinstance(prompt, str) else prompt[-1]["content"]


def _labels(value: Any, field: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise PlaygroundError(field, f"must be an object {{label: text}}, got {type(value).__name__}")
    for k, v in value.items():
        if not isinstance(k, str) or not k.strip() or len(k) > MAX_LABEL:
            raise PlaygroundError(field, f"label {k!r} must be a non-empty string of at most {MAX_LABEL} characters")
        if not isinstance(v, str):
            raise PlaygroundError(f"{field}.{k}", f"must be a string, got {type(v).__name__}")
    return dict(value)


def _json_settings(settings: Any) -> dict[str, Any]:
    if settings is None:
        return {}
    if isinstance(settings, ChatSettings):
        return settings.model_dump()
    if not isinstance(settings, dict):
        raise PlaygroundError("settings", f"must be an object, got {type(settings).__name__}")
    try:
        text = json.dumps(settings, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PlaygroundError("settings", f"must be plain JSON values: {exc}") from None
    if len(text) > 10_000:
        raise PlaygroundError("settings", "is larger than 10,000 characters of JSON")
    return json.loads(text)


# --- the tables -----------------------------------------------------------------------------------------------

_ready: set[str] = set()


def _tables(ws: Workspace) -> None:
    """Create the playground's tables on first use (IF NOT EXISTS: no schema migration of the shared database)."""
    key = str(ws.db_path)
    if key in _ready:
        return
    with ws.write() as c:
        for stmt in _TABLES:
            c.execute(stmt)
    _ready.add(key)


def _vote_from_row(row) -> Vote:
    return Vote(id=row["id"], created_at=row["created_at"], prompt=json.loads(row["prompt"]),
                answers=json.loads(row["answers"]), models=json.loads(row["models"]), winner=row["winner"],
                settings=json.loads(row["settings"]), endpoint=row["endpoint"], pair_id=row["pair_id"])


def _pair_from_row(row) -> BlindPair:
    return BlindPair(id=row["id"], prompt=json.loads(row["prompt"]), slots=json.loads(row["slots"]),
                     answers=json.loads(row["answers"]) if row["answers"] else None,
                     settings=json.loads(row["settings"]), endpoint=row["endpoint"], vote_id=row["vote_id"],
                     created_at=row["created_at"])


def _new_id(prefix: str) -> str:
    return f"{prefix}-{time.strftime('%Y%m%d')}-{uuid.uuid4().hex[:10]}"


# --- votes ----------------------------------------------------------------------------------------------------

def record_vote(ws: Workspace, prompt: Any, answers: dict[str, str], models: dict[str, str], winner: str,
                settings: dict[str, Any] | ChatSettings | None = None, endpoint: str | None = None, *,
                pair_id: str | None = None) -> str:
    """Store one vote and return its id. `answers` and `models` are keyed by the same labels (column titles, or
    the slots A/B of a blind pair); `winner` is one of those labels or "tie". Bad input names the field."""
    prompt = check_prompt(prompt)
    answers = _labels(answers, "answers")
    models = _labels(models, "models")
    if len(answers) < 2:
        raise PlaygroundError("answers", f"a vote compares at least two answers, got {len(answers)}")
    if TIE in answers:
        raise PlaygroundError("answers", f"{TIE!r} is the winner for a tie; it cannot label an answer")
    if len(answers) > MAX_ANSWERS:
        raise PlaygroundError("answers", f"at most {MAX_ANSWERS} answers per vote, got {len(answers)}")
    for k, v in answers.items():
        if len(v) > MAX_ANSWER_CHARS:
            raise PlaygroundError(f"answers.{k}", f"is longer than {MAX_ANSWER_CHARS} characters")
    if set(models) != set(answers):
        missing, extra = sorted(set(answers) - set(models)), sorted(set(models) - set(answers))
        raise PlaygroundError("models", "needs one model per answer label" + (f"; missing {missing}" if missing else "")
                              + (f"; not among the answers {extra}" if extra else ""))
    for k, v in models.items():
        if not v.strip():
            raise PlaygroundError(f"models.{k}", "is empty: name the model that wrote this answer")
    if not isinstance(winner, str) or (winner != TIE and winner not in answers):
        raise PlaygroundError("winner", f"must be one of {sorted(answers)} or {TIE!r}, got {winner!r}")
    if endpoint is not None and (not isinstance(endpoint, str) or len(endpoint) > 4096):
        raise PlaygroundError("endpoint", "must be an endpoint name or URL")
    stored_settings = _json_settings(settings)
    _tables(ws)
    vote_id = _new_id("vote")
    with ws.write() as c:
        if pair_id is not None:  # claimed in the same transaction: two clicks at once cannot both vote on a pair
            row = c.execute("SELECT vote_id FROM playground_pairs WHERE id = ?", (pair_id,)).fetchone()
            if row is None:
                raise PlaygroundError("pair_id", f"no blind pair {pair_id!r}", status=404)
            if row["vote_id"]:
                raise PlaygroundError("pair_id", f"pair {pair_id} was already voted on (vote {row['vote_id']})",
                                      status=409)
            c.execute("UPDATE playground_pairs SET vote_id = ? WHERE id = ?", (vote_id, pair_id))
        c.execute("INSERT INTO playground_votes (id, created_at, prompt, answers, models, winner, settings, endpoint,"
                  " pair_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  (vote_id, time.time(), json.dumps(prompt), json.dumps(answers), json.dumps(models), winner,
                   json.dumps(stored_settings), endpoint, pair_id))
    return vote_id


def votes(ws: Workspace) -> list[Vote]:
    """Every vote, oldest first."""
    _tables(ws)
    rows = ws.conn.execute("SELECT * FROM playground_votes ORDER BY created_at, id").fetchall()
    return [_vote_from_row(r) for r in rows]


def get_vote(ws: Workspace, vote_id: str) -> Vote:
    _tables(ws)
    row = ws.conn.execute("SELECT * FROM playground_votes WHERE id = ?", (vote_id,)).fetchone()
    if row is None:
        raise PlaygroundError("vote_id", f"no vote {vote_id!r}", status=404)
    return _vote_from_row(row)


# --- blind pairs ----------------------------------------------------------------------------------------------

def new_pair(ws: Workspace, prompt: Any, models: list[str], settings: Any = None, endpoint: str | None = None,
             rng: random.Random | None = None) -> BlindPair:
    """Store a blind pair: the two models in a random order (slot A and B), answers still to come."""
    prompt = check_prompt(prompt)
    if not isinstance(models, (list, tuple)) or len(models) != 2 or not all(isinstance(m, str) and m for m in models):
        raise PlaygroundError("models", f"a blind pair needs exactly two model names, got {models!r}")
    s = parse_settings(settings)
    order = list(models)
    (rng or random.SystemRandom()).shuffle(order)
    slots = dict(zip(SLOTS, order))
    _tables(ws)
    pair = BlindPair(id=_new_id("pair"), prompt=prompt, slots=slots, answers=None, settings=s.model_dump(),
                     endpoint=endpoint, vote_id=None, created_at=time.time())
    with ws.write() as c:
        c.execute("INSERT INTO playground_pairs (id, created_at, prompt, slots, answers, settings, endpoint, vote_id)"
                  " VALUES (?, ?, ?, ?, NULL, ?, ?, NULL)",
                  (pair.id, pair.created_at, json.dumps(prompt), json.dumps(slots), json.dumps(pair.settings),
                   endpoint))
    return pair


def get_pair(ws: Workspace, pair_id: str) -> BlindPair:
    _tables(ws)
    row = ws.conn.execute("SELECT * FROM playground_pairs WHERE id = ?", (pair_id,)).fetchone()
    if row is None:
        raise PlaygroundError("pair_id", f"no blind pair {pair_id!r}", status=404)
    return _pair_from_row(row)


def set_answers(ws: Workspace, pair_id: str, answers: dict[str, str]) -> BlindPair:
    """Store the pair's answers (by slot) once they are generated."""
    answers = _labels(answers, "answers")
    if set(answers) != set(SLOTS):
        raise PlaygroundError("answers", f"a blind pair's answers are keyed {list(SLOTS)}, got {sorted(answers)}")
    get_pair(ws, pair_id)
    with ws.write() as c:
        c.execute("UPDATE playground_pairs SET answers = ? WHERE id = ?", (json.dumps(answers), pair_id))
    return get_pair(ws, pair_id)


def vote_pair(ws: Workspace, pair_id: str, winner: str) -> dict[str, Any]:
    """Record the vote on a blind pair and reveal its models: `{"A": model, "B": model, "vote_id": ...}`.
    A pair is voted on once (a second vote is a 409 naming the first)."""
    if winner not in (*SLOTS, TIE):
        raise PlaygroundError("winner", f"must be 'A', 'B' or 'tie', got {winner!r}")
    pair = get_pair(ws, pair_id)
    if pair.vote_id:
        raise PlaygroundError("pair_id", f"pair {pair_id} was already voted on (vote {pair.vote_id})", status=409)
    if not pair.answers:
        raise PlaygroundError("pair_id", f"pair {pair_id} has no answers yet; vote once both are in", status=409)
    vote_id = record_vote(ws, pair.prompt, pair.answers, pair.slots, winner, pair.settings, pair.endpoint,
                          pair_id=pair.id)
    return {**pair.slots, "vote_id": vote_id, "winner": winner}


# --- votes -> preference data ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PreferenceRows:
    rows: list[dict[str, Any]]      # prompt / chosen / rejected, conversational
    records: list[dict[str, Any]]   # per row: vote id, chosen and rejected model, settings, endpoint
    votes: int
    ties_skipped: int
    unusable_skipped: int           # a winner whose answer equals or is as empty as the other one


def preference_rows(all_votes: list[Vote]) -> PreferenceRows:
    """One preference row per (winner, other answer) of every non-tie vote."""
    rows, records = [], []
    ties = unusable = 0
    for v in all_votes:
        if v.winner == TIE:
            ties += 1
            continue
        chosen = v.answers[v.winner]
        made = 0
        for label, text in v.answers.items():
            if label == v.winner:
                continue
            if not chosen.strip() or chosen.strip() == text.strip():
                continue
            rows.append({"prompt": messages_of(v.prompt), "chosen": [{"role": "assistant", "content": chosen}],
                         "rejected": [{"role": "assistant", "content": text}]})
            records.append({"vote_id": v.id, "prompt": prompt_text(v.prompt), "chosen_model": v.models[v.winner],
                            "rejected_model": v.models[label],
                            "settings": v.settings, "endpoint": v.endpoint, "blind": v.pair_id is not None})
            made += 1
        if not made:
            unusable += 1
    return PreferenceRows(rows, records, len(all_votes), ties, unusable)


def votes_dataset(ws: Workspace, name: str = DEFAULT_DATASET, *, eval_fraction: float = 0.0,
                  seed: int = 42):
    """Add the votes as a preference dataset version (technique `dpo`) to the catalog and return it.

    The version's `source` metadata records how many votes it came from, the ties and unusable votes left out,
    the models that won and lost, and per row the vote, both models and the settings."""
    from jupyter_ft.core.datasets import catalog

    if not isinstance(name, str) or not catalog.NAME_RE.fullmatch(name):
        raise PlaygroundError("name", f"{name!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a "
                                      "letter or digit")
    data = preference_rows(votes(ws))
    if not data.rows:
        why = ("there are no votes yet: vote in the playground (blind A/B or side by side) first" if not data.votes
               else f"none of the {data.votes} votes makes a pair ({data.ties_skipped} ties, "
                    f"{data.unusable_skipped} with identical or empty answers)")
        raise PlaygroundError("votes", why, status=409)
    models: dict[str, dict[str, int]] = {}
    for r in data.records:
        models.setdefault(r["chosen_model"], {"chosen": 0, "rejected": 0})["chosen"] += 1
        models.setdefault(r["rejected_model"], {"chosen": 0, "rejected": 0})["rejected"] += 1
    info = {"type": "playground-votes", "votes": data.votes, "ties_skipped": data.ties_skipped,
            "unusable_skipped": data.unusable_skipped, "pairs": len(data.rows), "models": models,
            "settings": sorted({json.dumps(r["settings"], sort_keys=True) for r in data.records}),
            "row_records": data.records}
    return catalog.add(ws, data.rows, name=name, technique="dpo", eval_fraction=eval_fraction, seed=seed,
                       label="playground votes", source_info=info)
