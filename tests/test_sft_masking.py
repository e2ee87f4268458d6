"""SFT on chat templates without `{% generation %}` markers trains every assistant turn, and rows that truncation
leaves without a trained token are counted, replaced in the held-out set, or turn evaluation off — never a crash.

Checked on SmolLM2's real ChatML template (the real tokenizer, and the same template text on the tiny model so the
trainer tests stay fast), through the paths a person meets: the trained-token preview, TRL's dataset preparation as
a job does it, a trainer built by the SFT technique module, and one detached job.
"""

from __future__ import annotations

import html
import json
import math
import re
import shutil

import pytest

import jupyter_ft as ft
from jupyter_ft.core.datasets import catalog
from jupyter_ft.core.spec.train import TrainSpec
from jupyter_ft.core.workspace import Workspace
from jupyter_ft.training import loading, masking, tokens
from jupyter_ft.training.context import TrainContext, common_args
from jupyter_ft.training.data import LoadedData
from jupyter_ft.training.errors import JobInputError
from jupyter_ft.training.techniques import sft

# SmolLM2-135M-Instruct's chat template, as its tokenizer ships it (checked against the real one below).
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
ANSWERS = ["Hello there, how can I help?", "Two plus two is 4.", "Goodbye, and have a nice day!"]
THREE_TURNS = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "Hi!"},
    {"role": "assistant", "content": ANSWERS[0]},
    {"role": "user", "content": "What is 2 + 2?"},
    {"role": "assistant", "content": ANSWERS[1]},
    {"role": "user", "content": "Bye."},
    {"role": "assistant", "content": ANSWERS[2]},
]
NO_SYSTEM = THREE_TURNS[1:]  # SmolLM2's template adds its default system prompt


@pytest.fixture(scope="module")
def chatml_model(tiny_model, tmp_path_factory):
    """The tiny model with SmolLM2's ChatML template and its two special tokens (embeddings grown to match)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dst = tmp_path_factory.mktemp("models") / "tiny-chatml"
    shutil.copytree(tiny_model, dst)
    tok = AutoTokenizer.from_pretrained(dst)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.eos_token = "<|im_end|>"
    tok.chat_template = SMOLLM2_TEMPLATE
    tok.save_pretrained(dst)
    model = AutoModelForCausalLM.from_pretrained(dst)
    model.resize_token_embeddings(len(tok))
    model.config.eos_token_id = tok.eos_token_id
    model.save_pretrained(dst)
    return dst


def trained_runs(ids: list[int], trained: list[bool], tok) -> list[str]:
    """The text of each contiguous stretch of trained tokens."""
    runs, cur = [], []
    for i, t in zip(ids, trained):
        if t:
            cur.append(i)
        elif cur:
            runs.append(tok.decode(cur))
            cur = []
    if cur:
        runs.append(tok.decode(cur))
    return runs


def test_the_fast_tests_use_smollm2s_real_template(smollm2_dir):
    assert tokens.load_tokenizer(str(smollm2_dir)).chat_template == SMOLLM2_TEMPLATE


@pytest.mark.parametrize("which", ["tiny", "smollm2"])
def test_every_assistant_turn_trains_on_a_chatml_template(which, request, tmp_path):
    model = request.getfixturevalue("chatml_model" if which == "tiny" else "smollm2_dir")
    tok = tokens.load_tokenizer(str(model))
    assert not masking.has_assistant_mask(tok)  # plain TRL's assistant_only_loss refuses this template
    want = [a + "<|im_end|>" for a in ANSWERS]
    for conv in (THREE_TURNS, NO_SYSTEM):
        # TRL's own preparation of the rows the technique hands it: labels are -100 outside the trained tokens
        prepared, rule = tokens.sft_prepare([{"messages": conv}], "messages", tok, None)
        ex = prepared[0]
        assert rule == masking.TURNS
        assert ex["input_ids"] == tok.apply_chat_template(conv, tokenize=True, return_dict=True)["input_ids"]
        # exactly the three answers and their end-of-turn token: no system or user text, no line break after it
        assert trained_runs(ex["input_ids"], [lab != -100 for lab in ex["labels"]], tok) == want
        # a tokenizer without character offsets gets the same ids and mask, tokenizing piece by piece
        whole, spans = masking.assistant_spans(tok, conv)
        assert masking._by_pieces(tok, whole, spans) == masking.turn_by_turn(tok, conv)
    # the trained-token preview a person reads says the same and marks the same tokens
    v = catalog.add(Workspace(tmp_path / "ws"), [{"messages": THREE_TURNS}, {"messages": NO_SYSTEM}], "chat", "sft",
                    eval_fraction=0)
    for row in range(2):
        preview = tokens.trained_tokens(v, str(model), row=row)
        assert preview.loss == masking.TURNS and "every assistant turn (rendered turn by turn" in str(preview)
        (seq,) = preview.sequences
        assert trained_runs(seq.ids, seq.trained, tok) == want
        assert "[[" + ANSWERS[1] in seq.text() and "]]\n<|im_start|>user" in seq.text()


def test_a_template_that_rewrites_earlier_turns_trains_the_last_turn_and_says_why(chatml_model):
    from datasets import Dataset

    tok = tokens.load_tokenizer(str(chatml_model))
    tok.chat_template = (  # earlier answers are shown as a placeholder: not prefix-stable
        "{% for m in messages %}{% if m['role'] == 'assistant' and not loop.last %}<|im_start|>assistant\n(earlier)"
        "<|im_end|>\n{% else %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    mask = masking.LossMask("messages", tok)
    ds = mask.prepare(Dataset.from_list([{"messages": THREE_TURNS}]))
    assert mask.text.startswith("last assistant turn (no generation markers, and the chat template is not "
                                "prefix-stable: the conversation up to assistant turn 1 renders differently")
    (ex,) = ds.to_list()
    assert trained_runs(ex["input_ids"], ex["assistant_masks"], tok) == [ANSWERS[2] + "<|im_end|>\n"]
    one_turn = THREE_TURNS[:3]  # a single answer is the last one: this template renders it prefix-stably
    mixed = masking.LossMask("messages", tok)
    mixed.prepare(Dataset.from_list([{"messages": one_turn}, {"messages": THREE_TURNS}]))
    assert mixed.text.startswith(masking.TURNS + "; 1 of 2 rows train only their last assistant turn: the "
                                                 "conversation up to assistant turn 1")


def test_both_forms_name_the_masking(ws):
    """The Customize form's line under `completion_only_loss`: the schema description the Studio's checkbox shows,
    and the notebook form's hint."""
    from jupyter_ft.core.spec.form import form_schema
    from jupyter_ft.widgets.form import JobForm

    line = ("conversations train every assistant turn (the chat template's generation markers, else rendered turn by "
            "turn)")
    field = form_schema("train")["schema"]["$defs"]["SFTOptions"]["properties"]["completion_only_loss"]
    assert line in field["description"]
    assert html.escape(line) in JobForm(ws).controls["sft.completion_only_loss"].hint.value


# --- truncation: rows left without a trained token ----------------------------------------------------------------

def conversation(i: int, long_start: bool) -> dict:
    """Two answers after a first question that alone fills a small max_length when `long_start`."""
    first = "Tell me about the capital of France, please. " * (12 if long_start else 1)
    return {"messages": [{"role": "user", "content": first.strip()},
                         {"role": "assistant", "content": f"Paris is the capital of France ({i})."},
                         {"role": "user", "content": "And of Spain?"},
                         {"role": "assistant", "content": "Madrid."}]}


def sft_trainer(model, tmp_path, train_rows, eval_pool, eval_rows=1, max_length=96):
    """A trainer built by the SFT technique module, as a job builds it (the held-out set is the pool's first rows);
    length bucketing on and the model's own loss, the CPU choices of the job that crashed."""
    from datasets import Dataset

    spec = TrainSpec(model=str(model), dataset="chats@1", technique="sft", lora=None, max_length=max_length,
                     max_steps=2, batch_size=2, grad_accum=1, learning_rate=1e-3, device="cpu", precision="fp32",
                     eval_rows=eval_rows, logging_steps=1,
                     sft={"group_by_length": True, "token_metrics": False, "packing": False})
    pool = Dataset.from_list(eval_pool) if eval_pool else None
    evals = pool.select(range(eval_rows)) if pool is not None else None
    data = LoadedData(Dataset.from_list(train_rows), evals, "messages", "d", {}, "local", "chats", eval_pool=pool)
    ctx = TrainContext(spec=spec, job_dir=tmp_path, tokenizer=loading.load_tokenizer(spec),
                       model=loading.load_model(spec), data=data, peft_config=None,
                       args=common_args(spec, tmp_path, 2, evals is not None))
    return sft.build_trainer(ctx), ctx


def test_dropped_held_out_rows_are_replaced_and_counted(chatml_model, tmp_path):
    train = [conversation(i, long_start=i % 3 == 0) for i in range(12)]  # 4 of 12 fully masked at max_length 96
    pool = [conversation(100, True), conversation(101, True)] + [conversation(102 + i, False) for i in range(4)]
    trainer, ctx = sft_trainer(chatml_model, tmp_path, train, pool, eval_rows=2)
    assert len(trainer.train_dataset) == 8
    assert ctx.notes["sft.dropped_rows.train"] == ("4 of 12 train rows dropped: no trained token within "
                                                   "max_length=96 (its first trained assistant answer starts past it)")
    assert len(trainer.eval_dataset) == 2
    assert ctx.notes["sft.dropped_rows.eval"].startswith("2 of 6 held-out rows dropped: no trained token within "
                                                         "max_length=96")
    assert "the next held-out rows replace them, 2 rows scored" in ctx.notes["sft.dropped_rows.eval"]
    assert math.isfinite(trainer.evaluate()["eval_loss"])


def test_no_held_out_row_left_turns_evaluation_off_instead_of_crashing(chatml_model, tmp_path):
    """The crash: one held-out row, fully masked after truncation, then `IndexError: Invalid key: 0 is out of bounds
    for size 0` at the first evaluation (length bucketing read the empty set's first row)."""
    from transformers.trainer_utils import IntervalStrategy

    train = [conversation(i, long_start=i % 2 == 0) for i in range(8)]
    trainer, ctx = sft_trainer(chatml_model, tmp_path, train, [conversation(100 + i, True) for i in range(3)])
    assert trainer.eval_dataset is None and trainer.args.eval_strategy == IntervalStrategy.NO
    assert ctx.notes["sft.eval"] == ("off: none of the 3 held-out rows keeps a trained token within max_length=96 "
                                     "(its first trained assistant answer starts past it); the job evaluates "
                                     "nothing (raise max_length to evaluate)")
    trainer.train()
    assert trainer.state.global_step == 2 and not any("eval_loss" in h for h in trainer.state.log_history)


def test_no_train_row_left_fails_naming_max_length(chatml_model, tmp_path):
    with pytest.raises(JobInputError, match=r"^max_length: none of the 4 train rows of chats keeps a trained token "
                                            r"within max_length=96"):
        sft_trainer(chatml_model, tmp_path, [conversation(i, True) for i in range(4)], [])


# --- one job ---------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_multi_turn_sft_job_succeeds_and_says_what_it_evaluated(ws, chatml_model, tmp_path):
    """The reported job, small: multi-turn chats, a short max_length, evaluation sized to one held-out row whose
    first answer starts past max_length. The job replaces that row, evaluates, and says what it dropped."""
    # The split is a seeded permutation of the row count: read it from a probe, then make the first held-out row
    # (the one evaluation is sized to) long, the second short, and 3 in 4 of the others long.
    probe = catalog.add(ws, [conversation(i, False) for i in range(120)], "probe", "sft", eval_fraction=0.1)
    order = [int(re.search(r"\((\d+)\)", r["messages"][1]["content"]).group(1))
             for r in probe.rows(0, probe.num_eval, "eval")]
    long = ({i for i in range(120) if i % 4} | {order[0]}) - {order[1]}
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps(conversation(i, i in long)) + "\n" for i in range(120)))
    v = catalog.add(ws, path, "chats", "sft", eval_fraction=0.1)
    first_held_out = tokens.trained_tokens(v, str(chatml_model), row=0, split="eval", max_length=96)
    assert not first_held_out.sequences and "the job drops this row" in first_held_out.loss
    job = ft.train(model=str(chatml_model), dataset=v.ref, max_length=96, max_steps=4, batch_size=4, grad_accum=1,
                   eval_rows=1, logging_steps=2)
    job.wait(timeout=600)
    log = job.logs()
    assert job.status == "succeeded", log[-3000:]
    assert "sft.loss_mask: every assistant turn (rendered turn by turn" in log
    dropped = re.search(r"sft\.dropped_rows\.train: (\d+) of 108 train rows dropped", log)
    assert dropped and 60 < int(dropped.group(1)) < 108, log[-3000:]
    assert re.search(r"sft\.dropped_rows\.eval: \d+ of \d+ held-out rows dropped: .*1 row scored", log), log[-3000:]
    assert any("eval_loss" in m for m in job.metrics())
