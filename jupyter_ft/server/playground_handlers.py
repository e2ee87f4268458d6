"""REST routes of the playground: votes, the preference dataset they become, and blind A/B pairs whose models stay
on the server until the vote. Thin: parse, call `core.deploy.playground` / `core.deploy.chat`, serialise; a
`PlaygroundError` becomes a 4xx naming its field (404 unknown pair or model, 409 a pair voted twice)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import tornado.web

from jupyter_ft.core.deploy import playground
from jupyter_ft.core.deploy import chat as playground_chat
from jupyter_ft.core.deploy.playground import PlaygroundError

from jupyter_ft.server.errors import ClientError
from jupyter_ft.server.handlers import BaseHandler

VOTE_FIELDS = {"prompt", "answers", "models", "winner", "settings", "endpoint"}


def _client_error(exc: PlaygroundError) -> ClientError:
    return ClientError(exc.field, exc.message, status=exc.status)


class _PlaygroundHandler(BaseHandler):
    def _only(self, body: dict[str, Any], allowed: set[str], required: set[str]) -> None:
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise ClientError(unknown[0], f"unknown field; expected {sorted(allowed)}")
        missing = sorted(required - set(body))
        if missing:
            raise ClientError(missing[0], "is required")


class VotesHandler(_PlaygroundHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        self.reply({"votes": [v.to_dict() for v in playground.votes(self.ws)]})

    @tornado.web.authenticated
    def post(self) -> None:
        body = self.json_body()
        self._only(body, VOTE_FIELDS, {"prompt", "answers", "models", "winner"})
        try:
            vote_id = playground.record_vote(self.ws, body["prompt"], body["answers"], body["models"], body["winner"],
                                             body.get("settings"), body.get("endpoint"))
        except PlaygroundError as exc:
            raise _client_error(exc) from None
        self.reply({"vote": playground.get_vote(self.ws, vote_id).to_dict()}, 201)


class VotesDatasetHandler(_PlaygroundHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        self._only(body, {"name", "eval_fraction"}, set())
        try:
            v = await asyncio.to_thread(playground.votes_dataset, self.ws, body.get("name", playground.DEFAULT_DATASET),
                                        eval_fraction=body.get("eval_fraction", 0.0))
        except PlaygroundError as exc:
            raise _client_error(exc) from None
        self.reply({"dataset": v.ref, "rows": v.num_rows, "ties_skipped": v.source.get("ties_skipped", 0),
                    "unusable_skipped": v.source.get("unusable_skipped", 0), "votes": v.source.get("votes")}, 201)


def _answer_both(targets: list[playground_chat.Target], prompt: Any, settings: playground.ChatSettings) -> list[str]:
    """Both answers, asked at once (the endpoint batches them)."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="playground-blind") as pool:
        futures = [pool.submit(playground_chat.answer, t, prompt, settings) for t in targets]
        return [f.result() for f in futures]


class BlindHandler(_PlaygroundHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        self._only(body, {"endpoint", "prompt", "models", "settings"}, {"endpoint", "prompt", "models"})
        endpoint = body["endpoint"]
        if not isinstance(endpoint, str) or not endpoint.strip():
            raise ClientError("endpoint", "must name a deployed endpoint or an OpenAI-compatible URL")
        try:
            prompt = playground.check_prompt(body["prompt"])
            settings = playground.parse_settings(body.get("settings"))
            models = body["models"]
            if not isinstance(models, list) or len(models) != 2 or not all(isinstance(m, str) and m for m in models):
                raise PlaygroundError("models", f"a blind pair needs exactly two model names, got {models!r}")
            if models[0] == models[1]:
                raise PlaygroundError("models", "name two different models")
            targets = await asyncio.to_thread(playground_chat.resolve_targets, self.ws, endpoint, models)
            by_model = {t.model: t for t in targets}
            pair = playground.new_pair(self.ws, prompt, models, settings, endpoint)
        except PlaygroundError as exc:
            raise _client_error(exc) from None
        slot_targets = [by_model[pair.slots[s]] for s in playground.SLOTS]
        try:
            texts = await asyncio.to_thread(_answer_both, slot_targets, prompt, settings)
        except PlaygroundError as exc:  # the endpoint failed while answering: a bad gateway, naming the endpoint
            raise ClientError("endpoint", exc.message, status=502) from None
        pair = playground.set_answers(self.ws, pair.id, dict(zip(playground.SLOTS, texts)))
        self.reply({**pair.public(), "settings": pair.settings}, 201)


class BlindVoteHandler(_PlaygroundHandler):
    @tornado.web.authenticated
    def post(self, pair_id: str) -> None:
        body = self.json_body()
        self._only(body, {"winner"}, {"winner"})
        try:
            self.reply(playground.vote_pair(self.ws, pair_id, body["winner"]), 201)
        except PlaygroundError as exc:
            raise _client_error(exc) from None


def routes(prefix: str) -> list[tuple[str, type]]:
    pg = f"{prefix}/playground"
    return [
        (rf"{pg}/votes/?", VotesHandler),
        (rf"{pg}/votes/dataset/?", VotesDatasetHandler),
        (rf"{pg}/blind/?", BlindHandler),
        (rf"{pg}/blind/(?P<pair_id>[A-Za-z0-9_.-]+)/vote/?", BlindVoteHandler),
    ]


# --- OpenAPI (server/openapi.py) ---------------------------------------------------------------------------------

from jupyter_ft.core.deploy.playground import ChatSettings  # noqa: E402

from jupyter_ft.server.openapi import ANY_OBJECT, INTEGER, NULLABLE_STRING, STRING, array, doc, example, obj  # noqa: E402

_TEXTS = {"type": "object", "additionalProperties": {"type": "string"}}
_PROMPT = {"oneOf": [STRING, array(obj(["role", "content"], role=STRING, content=STRING))],
           "description": "a user message, or a conversation ending on a user turn"}
_VOTE_BODY = obj(["prompt", "answers", "models", "winner"], prompt=_PROMPT,
                 answers={**_TEXTS, "description": "{label: answer text}, two or more"},
                 models={**_TEXTS, "description": "{label: served model name}, the same labels"},
                 winner={**STRING, "description": "one of the labels, or 'tie'"},
                 settings={**ANY_OBJECT, "description": "the generation settings the answers were made with"},
                 endpoint=NULLABLE_STRING)
_VOTE = obj(["id", "created_at", "prompt", "answers", "models", "winner", "settings"], id=STRING,
            created_at={"type": "number"}, prompt=_PROMPT, answers=_TEXTS, models=_TEXTS, winner=STRING,
            settings=ANY_OBJECT, endpoint=NULLABLE_STRING, pair_id=NULLABLE_STRING)

DOCS = [
    doc("GET", "playground/votes", "Every playground vote, oldest first", response=obj(["votes"], votes=array(_VOTE)),
        examples=[example()]),
    doc("POST", "playground/votes", "Store a vote on answers to one prompt", body=_VOTE_BODY, status=201,
        response=obj(["vote"], vote=_VOTE),
        examples=[example(body={"prompt": "How are you?", "answers": {"a": "Great, thanks!", "b": "Fine."},
                                "models": {"a": "humanlike", "b": "base"}, "winner": "a",
                                "settings": {"max_tokens": 32}}, status=201),
                  example(body={"prompt": "hi", "answers": {"a": "x"}, "models": {"a": "m"}, "winner": "a"},
                          status=400, summary="one answer is not a vote")]),
    doc("POST", "playground/votes/dataset", "Turn the votes into a preference dataset version (DPO-ready); ties "
        "and votes with identical or empty answers are left out and counted",
        body=obj([], name={**STRING, "default": "playground-votes"}, eval_fraction={"type": "number"}), status=201,
        response=obj(["dataset", "rows", "ties_skipped"], dataset=STRING, rows=INTEGER, ties_skipped=INTEGER,
                     unusable_skipped=INTEGER, votes=INTEGER), errors=(400, 409),
        examples=[example(body={"name": "bad name!"}, status=400)]),
    doc("POST", "playground/blind", "Ask two models of an endpoint the same prompt; the answers come back by slot "
        "(A, B) in a random order, the models stay hidden until the vote",
        body=obj(["endpoint", "prompt", "models"], endpoint={**STRING, "description": "endpoint name or URL .../v1"},
                 prompt=_PROMPT, models={**array(STRING), "minItems": 2, "maxItems": 2},
                 settings=ChatSettings.model_json_schema()), status=201,
        response=obj(["pair_id", "answers"], pair_id=STRING,
                     answers=array(obj(["slot", "text"], slot=STRING, text=STRING)), settings=ANY_OBJECT),
        errors=(400, 404, 502),
        examples=[example(body={"endpoint": "http://127.0.0.1:9/v1", "prompt": "hi", "models": ["a"]}, status=400)]),
    doc("POST", "playground/blind/{pair_id}/vote", "Vote on a blind pair (A, B or tie) and reveal its models",
        body=obj(["winner"], winner={"enum": ["A", "B", "tie"]}), status=201,
        response=obj(["A", "B", "vote_id"], A=STRING, B=STRING, vote_id=STRING, winner=STRING), errors=(400, 404, 409),
        examples=[example(path={"pair_id": "no-such-pair"}, body={"winner": "A"}, status=404)]),
]
