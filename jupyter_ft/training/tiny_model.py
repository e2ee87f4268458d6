"""Build a tiny Llama-architecture model and tokenizer offline.

Tests and the demo must never reach a model hub, yet they should exercise the same loading code a real
checkpoint goes through. So we train a small byte-level BPE tokenizer on local text, give it a chat template
with `{% generation %}` markers (so assistant-only loss works), build a `LlamaForCausalLM` with random weights
and save both with `save_pretrained`. The result is an ordinary model folder.
"""

from __future__ import annotations

import json
from pathlib import Path

# Role markers are single special tokens so a chat turn boundary is never split by BPE.
SPECIAL_TOKENS = ["<|pad|>", "<|bos|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]

# The end-of-turn token sits inside the generation block so the model learns to stop.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<|assistant|>\n{% generation %}{{ message['content'] }}<|end|>{% endgeneration %}\n"
    "{% else %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _corpus() -> list[str]:
    """Local text for the tokenizer: the shipped demo data plus GSM8K-style arithmetic phrasing."""
    from jupyter_ft.core.datasets import demo_data

    lines: list[str] = []
    for row in demo_data.sft_rows(200):
        lines.extend(m["content"] for m in row["messages"])
    for row in demo_data.preference_rows(200):
        lines.extend(m["content"] for m in row["prompt"] + row["chosen"] + row["rejected"])
    lines.extend(
        f"Question: {a} + {b} = ? Answer: {a + b}. #### {a + b}" for a in range(0, 60, 3) for b in range(0, 60, 7)
    )
    return lines


def build_tokenizer(vocab_size: int = 1024):
    """Train a byte-level BPE tokenizer (no unknown tokens: every byte is in the alphabet)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|bos|>",
        eos_token="<|end|>",
        pad_token="<|pad|>",
        additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.model_max_length = 2048
    return fast


def make_tiny_model(
    output_dir: str | Path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    vocab_size: int = 1024,
    seed: int = 0,
) -> Path:
    """Write a tiny random-weight Llama model + tokenizer to `output_dir` and return the path."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out = Path(output_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=max(1, num_heads // 2),
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        # A wider init than the default 0.02 gives logits a usable scale, so LoRA on this random model learns
        # visibly in a few hundred CPU steps (the demo memorises its data in about 200).
        initializer_range=0.2,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=32,
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "jupyter_ft_tiny.json").write_text(json.dumps({"built_by": "jupyter_ft.make_tiny_model", "seed": seed}))
    return out
