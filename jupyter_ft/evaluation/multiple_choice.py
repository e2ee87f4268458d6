"""Multiple choice by log-likelihood, scored the way lm-evaluation-harness scores it.

For a question with choices c_1..c_n the context is

    [description + "\\n\\n"] [k shots: "Question: q\\nAnswer: a" joined by "\\n\\n", then "\\n\\n"] "Question: q\\nAnswer:"

and each choice is the continuation " " + c_i (the choice preceded by a space; with the chat template on, the
context is the chat-templated user turn holding the same text and the continuation is c_i). The log-likelihood of
a choice is the sum of its tokens' log-probabilities given the context, tokenized as lm-eval does (trailing spaces
of the context moved to the continuation; the continuation's tokens are those of context + continuation after
the context's own tokens; no special tokens added). `acc` takes the argmax of the sums, `acc_norm` the argmax of
sum / len(c_i in characters). Requests are sorted longest first and padded on the right, so a batch's padding
never changes a row's log-probabilities (batch 1 and batch 16 agree within float error).
Shots are drawn per question from the dev split with `random.Random(f"{seed}:{index}")`, never the question
itself, so a resumed run draws the same shots.
"""

from __future__ import annotations

import math
import random
from typing import Any, Sequence

from jupyter_ft.core.evaluate.mc_rows import MCQuestion


def _format(q: MCQuestion) -> str:
    return f"Question: {q.question}\nAnswer:"


def build_context(q: MCQuestion, shots: Sequence[MCQuestion], description: str | None) -> str:
    parts = [f"{_format(s)} {s.choices[s.answer]}" for s in shots]
    head = f"{description.strip()}\n\n" if description else ""
    return head + "".join(p + "\n\n" for p in parts) + _format(q)


def draw_shots(q: MCQuestion, dev: Sequence[MCQuestion], k: int, seed: int) -> list[MCQuestion]:
    if not k:
        return []
    pool = [d for d in dev if d.question != q.question]
    return random.Random(f"{seed}:{q.index}").sample(pool, min(k, len(pool)))


def requests_for(q: MCQuestion, context: str, chat: bool) -> list[tuple[str, str]]:
    return [(context, c if chat else " " + c) for c in q.choices]


def chat_context(tokenizer: Any, text: str) -> str:
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False)


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-eval's `_encode_pair`: trailing spaces of the context go to the continuation; the continuation's tokens
    are those after the context's in the encoding of both together."""
    n = len(context) - len(context.rstrip())
    if n:
        continuation = context[-n:] + continuation
        context = context[:-n]
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
    if not ctx:  # an empty context: condition on the end-of-text token, as lm-eval's prefix token
        prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        return [prefix], whole
    return ctx, whole[len(ctx):]


def loglikelihoods(model: Any, tokenizer: Any, requests: Sequence[tuple[str, str]], batch_size: int, device: str,
                   max_length: int | None = None) -> list[tuple[float, int, bool]]:
    """(sum of log-probs, number of continuation tokens, greedy?) for each (context, continuation)."""
    import torch

    max_length = max_length or getattr(model.config, "max_position_embeddings", 2048) or 2048
    enc = [encode_pair(tokenizer, c, x) for c, x in requests]
    order = sorted(range(len(enc)), key=lambda i: -(len(enc[i][0]) + len(enc[i][1])))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out: list[tuple[float, int, bool] | None] = [None] * len(enc)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        seqs, conts = [], []
        for i in idx:
            ctx, cont = enc[i]
            if not cont:
                raise ValueError(f"request {i}: the continuation {requests[i][1]!r} has no tokens")
            full = (ctx + cont)[-(max_length + 1):][:-1]
            seqs.append(full)
            conts.append(cont)
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for j, s in enumerate(seqs):
            ids[j, :len(s)] = torch.tensor(s)
            mask[j, :len(s)] = 1
        with torch.inference_mode():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        logp = torch.log_softmax(logits, dim=-1).cpu()
        for j, i in enumerate(idx):
            n, cont = len(seqs[j]), conts[j]
            rows = logp[j, n - len(cont):n]
            target = torch.tensor(cont)
            picked = rows.gather(1, target[:, None])[:, 0]
            greedy = bool((rows.argmax(dim=-1) == target).all())
            out[i] = (float(picked.sum()), len(cont), greedy)
    return out  # type: ignore[return-value]


def score_question(q: MCQuestion, lls: Sequence[float]) -> dict[str, Any]:
    """acc / acc_norm of one question from its choices' log-likelihoods (ties go to the first, as numpy argmax)."""
    norm = [ll / max(len(c), 1) for ll, c in zip(lls, q.choices)]
    pred = max(range(len(lls)), key=lambda i: (lls[i], -i))
    pred_norm = max(range(len(norm)), key=lambda i: (norm[i], -i))
    return {"scores": {"acc": float(pred == q.answer), "acc_norm": float(pred_norm == q.answer)},
            "extra": {"loglikelihoods": [float(x) for x in lls], "pred": pred, "pred_norm": pred_norm,
                      "answer": q.answer, "subject": q.subject,
                      "answer_text": q.choices[pred], "correct_text": q.choices[q.answer]}}


def nll_to_loss(ll: float, n: int) -> dict[str, float]:
    loss = -ll / max(n, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0))}
