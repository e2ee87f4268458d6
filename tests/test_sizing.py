"""Auto-sized defaults: parameter counting and choices per device, each with its reason."""

from jupyter_ft.core import hub
from jupyter_ft.core.train import sizing
from jupyter_ft.core.devices import DeviceInfo
from jupyter_ft.core.spec.train import parse_spec

GB = 1024**3
CPU = DeviceInfo("cpu", "cpu", "CPU", 24 * GB, False, 2)
H100 = DeviceInfo("cuda", "cuda:0", "H100", 80 * GB, True, 16)
T4 = DeviceInfo("cuda", "cuda:0", "T4", 16 * GB, False, 4)

LLAMA_1B = {"hidden_size": 2048, "num_hidden_layers": 16, "intermediate_size": 8192, "vocab_size": 128256,
            "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "tie_word_embeddings": True}


def test_param_count_matches_the_real_model(tiny_model):
    import json

    from transformers import AutoModelForCausalLM

    real = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(tiny_model).parameters())
    shape = sizing.model_shape(str(tiny_model))
    assert shape.params == real and shape.source == "safetensors"
    # the config formula (used for hub ids without weights at hand) agrees
    assert sizing._config_params(json.loads((tiny_model / "config.json").read_text())) == real


def test_llama_1b_formula():
    assert 1.2e9 < sizing._config_params(LLAMA_1B) < 1.3e9  # Llama-3.2-1B has 1.24B


def shape_1b():
    return sizing.ModelShape(1_235_814_400, 2048, 16, 8192, 128256, "config.json")


def test_gpu_lora_defaults_explain_themselves():
    s = sizing.resolve(parse_spec({"model": "m", "dataset": "d"}), shape_1b(), H100)
    assert s.precision == "bf16" and s.device == "cuda:0"
    assert s.lora.r == 16 and s.lora.alpha == 32
    assert s.batch_size * s.grad_accum == 16
    assert "fits 1.2B" in s.auto["batch_size"] and "80 GB" in s.auto["batch_size"]
    assert s.learning_rate == 2e-4 and "lora.r" in s.auto and "precision" in s.auto


def test_small_gpu_full_finetune_needs_checkpointing_or_small_batch():
    s = sizing.resolve(parse_spec({"model": "m", "dataset": "d", "lora": False, "max_length": 4096}), shape_1b(), T4)
    assert s.precision == "fp16" and s.learning_rate == 2e-5
    assert s.batch_size <= 2 and (s.gradient_checkpointing or "may not fit" in s.auto["batch_size"])


def test_cpu_defaults(tiny_model):
    s = sizing.resolve(parse_spec({"model": str(tiny_model), "dataset": "d"}), sizing.model_shape(str(tiny_model)), CPU)
    assert s.precision == "fp32" and s.device == "cpu" and s.gradient_checkpointing is False
    assert s.batch_size == 8 and s.grad_accum == 1 and s.lora.r == 8


def test_user_values_are_kept():
    spec = parse_spec({"model": "m", "dataset": "d", "batch_size": 3, "grad_accum": 5, "learning_rate": 1e-3,
                       "precision": "fp32", "lora": {"r": 4}})
    s = sizing.resolve(spec, shape_1b(), H100)
    assert (s.batch_size, s.grad_accum, s.learning_rate, s.precision, s.lora.r, s.lora.alpha) == (3, 5, 1e-3, "fp32", 4, 8)
    assert "batch_size" not in s.auto and "learning_rate" not in s.auto


def test_unknown_model_size_is_conservative():
    s = sizing.resolve(parse_spec({"model": "org/unreachable", "dataset": "d"}), None, H100)
    assert s.batch_size == 1 and "unknown" in s.auto["batch_size"]


def test_hub_id_vs_path():
    assert not hub.looks_like_path("meta-llama/Llama-3.2-1B-Instruct")
    assert hub.looks_like_path("./tiny") and hub.looks_like_path("/abs/model") and hub.looks_like_path("a/b/c")


def test_technique_learning_rates_and_grpo_groups():
    grpo = {"model": "m", "dataset": "d", "technique": "grpo", "grpo": {"rewards": ["numeric_answer"], "num_generations": 6}}
    s = sizing.resolve(parse_spec(grpo), shape_1b(), H100)
    assert s.learning_rate == 2e-5 and "usual for grpo with LoRA" in s.auto["learning_rate"]
    assert (s.batch_size * s.grad_accum) % 6 == 0 and "multiple of num_generations 6" in s.auto["grad_accum"]
    s = sizing.resolve(parse_spec({**grpo, "grad_accum": 1}), shape_1b(), H100)
    assert s.grad_accum == 1 and s.batch_size % 6 == 0 and "multiple of num_generations 6" in s.auto["batch_size"]
    s = sizing.resolve(parse_spec({**grpo, "batch_size": 4, "grad_accum": 3}), shape_1b(), H100)
    assert (s.batch_size, s.grad_accum) == (4, 3)  # already whole groups: left as given
    dpo = sizing.resolve(parse_spec({"model": "m", "dataset": "d", "technique": "dpo", "lora": False}), shape_1b(), H100)
    assert dpo.learning_rate == 5e-7
