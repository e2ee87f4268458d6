"""Token views match what TRL trains on: the trained-token preview against the labels of a real `SFTTrainer`
built by the SFT technique module (and against `DPOTrainer`'s tokenized rows), implicit-prompt splitting against
TRL's `extract_prompt`, and token statistics."""

from __future__ import annotations

import shutil

import pytest

from jupyter_ft.core.datasets import catalog, demo_data
from jupyter_ft.core.spec.train import TrainSpec
from jupyter_ft.core.workspace import Workspace
from jupyter_ft.training import data as data_mod
from jupyter_ft.training.techniques import sft
from jupyter_ft.training import loading, tokens
from jupyter_ft.training.context import TrainContext, common_args
from jupyter_ft.training.tiny_model import CHAT_TEMPLATE


@pytest.fixture(scope="module")
def plain_template_model(tiny_model, tmp_path_factory):
    """The tiny model with a chat template that has no {% generation %} markers (no assistant mask)."""
    from transformers import AutoTokenizer

    dst = tmp_path_factory.mktemp("models") / "tiny-plain"
    shutil.copytree(tiny_model, dst)
    tok = AutoTokenizer.from_pretrained(dst)
    tok.chat_template = CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    tok.save_pretrained(dst)
    return dst


@pytest.fixture
def cat(tmp_path):
    return Workspace(tmp_path / "ws")


def trl_rows(ws, version, model, tmp_path, max_length):
    """The rows the SFT technique module hands to training, from a real SFTTrainer."""
    spec = TrainSpec(model=str(model), dataset=version.ref, technique="sft", lora=None, max_length=max_length,
                     max_steps=1, batch_size=2, grad_accum=1, learning_rate=1e-3, device="cpu", precision="fp32")
    data = data_mod.load(spec, ws)
    ctx = TrainContext(spec=spec, job_dir=tmp_path, tokenizer=loading.load_tokenizer(spec), model=loading.load_model(spec),
                       data=data, peft_config=None, args=common_args(spec, tmp_path, 1, data.eval is not None))
    return sft.build_trainer(ctx).train_dataset


def multi_turn_rows(n):
    rows = []
    for r in demo_data.preference_rows(n, seed=3):
        rows.append({"messages": r["prompt"] + r["chosen"]})
    return rows


@pytest.mark.parametrize("case", ["assistant_mask", "turn_by_turn", "prompt_completion", "conversational_pc", "text",
                                  "truncated"])
def test_trained_tokens_match_sft_trainer_labels(case, cat, tmp_path, tiny_model, plain_template_model):
    model, max_length = tiny_model, 256
    if case in ("assistant_mask", "truncated"):
        rows = multi_turn_rows(6)
        max_length = 24 if case == "truncated" else max_length
    elif case == "turn_by_turn":
        rows, model = multi_turn_rows(6), plain_template_model
    elif case == "prompt_completion":
        rows = [{"prompt": f"Question {i}: what is {i} + {i}?", "completion": f" It is {2 * i}."} for i in range(6)]
    elif case == "conversational_pc":
        rows = [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in multi_turn_rows(6)]
    else:
        rows = [{"text": f"Once upon a time there were {i} cats."} for i in range(6)]
    v = catalog.add(cat, rows, "d", "sft", eval_fraction=0)
    prepared = trl_rows(cat, v, model, tmp_path, max_length)
    previews = [tokens.trained_tokens(v, str(model), row=i, max_length=max_length) for i in range(len(rows))]
    kept = [p for p in previews if p.sequences]
    if case == "truncated":  # rows whose prompt fills max_length carry no loss: TRL drops them, the preview says so
        assert 0 < len(prepared) < len(rows) and all("the job drops this row" in p.loss for p in previews
                                                     if not p.sequences)
    assert len(kept) == len(prepared)
    for preview, ex in zip(kept, prepared):
        (seq,) = preview.sequences
        assert seq.ids == ex["input_ids"]
        assert seq.trained == [lab != -100 for lab in ex["labels"]]
    assert 0 < seq.num_trained <= len(seq.ids)
    if case in ("assistant_mask", "turn_by_turn", "prompt_completion", "conversational_pc"):
        assert seq.num_trained < len(seq.ids)  # the prompt is masked
    if case in ("assistant_mask", "turn_by_turn"):  # every assistant turn trains, not only the last
        spans = [sum(1 for a, b in zip(p.sequences[0].trained, p.sequences[0].trained[1:]) if b and not a) for p in kept]
        assert max(spans) >= 2
    if case == "turn_by_turn":
        assert preview.loss.startswith("every assistant turn (rendered turn by turn")
    assert "trained" in preview._repr_html_() and str(v.ref) in str(preview)


def test_preference_preview_matches_dpo_trainer(cat, tiny_model):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    rows = demo_data.preference_rows(4, seed=1)
    v = catalog.add(cat, rows, "pref", "preference", eval_fraction=0)
    tok = tokens.load_tokenizer(str(tiny_model))
    trainer = DPOTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_model), args=DPOConfig(
        output_dir=str(cat.root / "dpo"), use_cpu=True, bf16=False, report_to=[], max_length=None),
        train_dataset=Dataset.from_list(v.rows(0, 4)), processing_class=tok)
    for i in range(4):
        ex = trainer.train_dataset[i]
        chosen, rejected = tokens.trained_tokens(v, str(tiny_model), row=i, max_length=None).sequences
        n = len(ex["prompt_ids"])
        assert chosen.ids == ex["prompt_ids"] + ex["chosen_ids"] and rejected.ids == ex["prompt_ids"] + ex["rejected_ids"]
        assert chosen.trained == [False] * n + [True] * len(ex["chosen_ids"])
        assert rejected.trained == [False] * n + [True] * len(ex["rejected_ids"])


def test_implicit_prompt_split_matches_trl_extract_prompt(cat):
    from trl.data_utils import extract_prompt

    rows = [{"chosen": r["prompt"] + r["chosen"], "rejected": r["prompt"] + r["rejected"]}
            for r in demo_data.preference_rows(300, seed=2)]
    v = catalog.add(cat, rows, "imp", "preference", eval_fraction=0)
    assert v.rows(0, 300) == [extract_prompt(r) for r in rows]


def test_token_stats_count_rows_over_max_length(cat, tiny_model):
    rows = [{"prompt": "q", "completion": " word" * n} for n in range(1, 41)]
    v = catalog.add(cat, rows, "lens", "sft", eval_fraction=0)
    stats = tokens.token_stats(v, str(tiny_model), max_length=20)
    lengths = [len(x) for x in tokens.sft_prepare(v.rows(0, 40), "prompt_completion", tokens.load_tokenizer(str(tiny_model)),
                                                   None)[0]["input_ids"]]
    assert sorted(stats.lengths.tolist()) == sorted(lengths) and stats.measured == 40
    assert stats.over == sum(n > 20 for n in lengths) and 0 < stats.over < 40
    assert sum(stats.histogram["counts"]) == 40 and "exceed max_length=20" in str(stats)
    sample = tokens.token_stats(v, str(tiny_model), max_length=20, limit=10)
    assert sample.measured == 10 and sample.rows == 40


def test_the_sdk_and_the_studio_route_measure_the_same_way(cat, tiny_model, capsys):
    import json

    import jupyter_ft as ft
    from jupyter_ft.training import token_stats_main

    rows = [{"prompt": "q", "completion": " word" * n} for n in range(1, 21)]
    v = catalog.add(cat, rows, "lens", "sft", eval_fraction=0)
    sdk = ft.datasets.token_stats(v.ref, str(tiny_model), max_length=10, ws=cat).summary()
    assert token_stats_main.main(["--workspace", str(cat.root), "--ref", v.ref, "--model", str(tiny_model),
                                  "--max-length", "10"]) == 0
    assert json.loads(capsys.readouterr().out) == {"stats": json.loads(json.dumps(sdk, default=float))}
    assert token_stats_main.main(["--workspace", str(cat.root), "--ref", v.ref, "--model", str(cat.root / "none")]) == 2
    assert json.loads(capsys.readouterr().out)["field"] == "model"
    with pytest.raises(ValueError, match="cannot load a tokenizer"):
        ft.datasets.token_stats(v.ref, str(cat.root / "none"), ws=cat)
    assert token_stats_main.main(["--workspace", str(cat.root), "--ref", "nope@1", "--model", str(tiny_model)]) == 2
    assert json.loads(capsys.readouterr().out)["field"] == "ref"
