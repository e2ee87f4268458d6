"""REST routes of the playground: votes, the preference dataset they become, and blind A/B pairs whose models stay
on the server until the vote. Thin: parse, call `core.playground` / `core.playground_chat`, serialise; a
`PlaygroundError` becomes a 4xx naming its field (404 unknown pair or model, 409 a pair voted twice)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import tornado.web

from jupyter_ft.core import playground, playground_chat
from jupyter_ft.core.playground import PlaygroundError

from .errors import ClientError
from .handlers import BaseHandler

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
