"""The offline tiny model: a normal transformers folder with a chat template that supports assistant-only loss."""

import subprocess
import sys


def test_tiny_model_loads_and_masks_assistant_turns(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.chat_template_utils import has_generation_markers, is_chat_template_stop_token_trained

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert model.config.model_type == "llama" and model.config.vocab_size == len(tok)
    assert has_generation_markers(tok.chat_template) and is_chat_template_stop_token_trained(tok)
    msgs = [{"role": "user", "content": "What is the capital of Peru?"}, {"role": "assistant", "content": "Lima."}]
    enc = tok.apply_chat_template(msgs, return_assistant_tokens_mask=True, return_dict=True)
    trained = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"]) if m]
    assert tok.decode(trained) == "Lima.<|end|>"
    assert tok.decode(tok("héllo wörld 42")["input_ids"]) == "héllo wörld 42"  # byte-level: no unknown tokens


def test_cli_builds_a_model(tmp_path):
    out = subprocess.run([sys.executable, "-m", "jupyter_ft.cli", "make-tiny-model", str(tmp_path / "m")],
                         capture_output=True, text=True, check=True)
    assert (tmp_path / "m" / "config.json").is_file() and (tmp_path / "m" / "tokenizer.json").is_file()
    assert str(tmp_path / "m") in out.stdout
