"""Fast checks of deployment plans, no server started: the DeploySpec's field-named errors, the vLLM command line
(against vLLM's own parser where vllm imports, else against the flags recorded from its sources), and vLLM's clear
refusals on a machine without it or without a GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import jupyter_ft as ft
from jupyter_ft.core.deploy import store as endpoint_store
from jupyter_ft.core.spec.deploy import DeploySpec, parse_deploy_spec
from jupyter_ft.core.deploy.refs import DeployError, adapter_rank
from jupyter_ft.core.spec.train import SpecError
from jupyter_ft.core.deploy import vllm_plan


def fake_adapter(folder: Path, base: str, r: int, rank_pattern: dict | None = None) -> Path:
    """An adapter folder as PEFT writes its config (the plan reads only adapter_config.json)."""
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({
        "base_model_name_or_path": base, "r": r, "rank_pattern": rank_pattern or {}, "peft_type": "LORA"}))
    return folder


def test_deploy_spec_errors_name_the_field():
    assert parse_deploy_spec({"adapters": ["a@3"]}).host == "127.0.0.1"
    cases = {
        "name": {"name": "has space", "adapters": ["a@1"]},
        "port": {"port": 0, "adapters": ["a@1"]},
        "engine": {"engine": "tgi", "adapters": ["a@1"]},
        "adapters.1": {"adapters": ["a@1", "a@1"]},
        "device": {"device": "tpu", "adapters": ["a@1"]},
        "max_batch_size": {"max_batch_size": 0, "adapters": ["a@1"]},
        "base": {},
        "host": {"host": "evil host", "adapters": ["a@1"]},
        "bogus": {"bogus": 1, "adapters": ["a@1"]},
    }
    for field, body in cases.items():
        with pytest.raises(SpecError) as ei:
            parse_deploy_spec(body)
        assert field in [f for f, _ in ei.value.errors], (field, ei.value.errors)
    assert DeploySpec(adapters=["x"], host="0.0.0.0").exposed and not DeploySpec(adapters=["x"]).exposed
    assert parse_deploy_spec("name: y\nadapters: [s=support@champion]\n").adapters == ["s=support@champion"]


def test_vllm_command_for_registry_adapters(tmp_path):
    a = fake_adapter(tmp_path / "humanlike", "meta-llama/Llama-3.2-1B-Instruct", 8)
    b = fake_adapter(tmp_path / "support", "meta-llama/Llama-3.2-1B-Instruct", 16, {"q_proj": 24})
    assert adapter_rank(str(b)) == 24
    argv = vllm_plan.build_command("meta-llama/Llama-3.2-1B-Instruct", {"humanlike@3": str(a), "support": str(b)},
                                   host="127.0.0.1", port=8123, ranks=[adapter_rank(str(a)), adapter_rank(str(b))],
                                   max_num_seqs=16, executable="vllm")
    assert argv[:3] == ["vllm", "serve", "meta-llama/Llama-3.2-1B-Instruct"]
    joined = " ".join(argv)
    assert f"--enable-lora --lora-modules humanlike@3={a} support={b}" in joined
    assert "--max-loras 2 --max-lora-rank 32" in joined  # 24 rounds up to vLLM's next allowed rank
    assert "--host 127.0.0.1 --port 8123" in joined and "--api-key" not in joined
    assert vllm_plan.env_for("k")["VLLM_API_KEY"] == "k"
    if vllm_plan.vllm_importable():
        ns = vllm_plan.parse_with_vllm(argv)
        assert ns.enable_lora and ns.max_loras == 2 and ns.max_lora_rank == 32 and ns.port == 8123
        assert [m.name for m in ns.lora_modules] == ["humanlike@3", "support"]
    else:
        assert vllm_plan.check_against_recorded(argv) == []
    # the recorded-flag check does catch a malformed command
    bad = [*argv, "--max-lora-rank", "24", "--no-such-flag"]
    problems = vllm_plan.check_against_recorded(bad)
    assert any("24" in p for p in problems) and any("--no-such-flag" in p for p in problems)
    with pytest.raises(vllm_plan.VllmUnavailable, match="max_lora_rank"):
        vllm_plan.build_command("b", {"x": str(a)}, host="h", port=1, ranks=[8], max_lora_rank=24)
    with pytest.raises(vllm_plan.VllmUnavailable, match="up to 512"):
        vllm_plan.lora_rank_for([1024])


def test_vllm_refusals_are_clear(ws, tmp_path):
    with pytest.raises(vllm_plan.VllmUnavailable, match="pip install vllm"):
        vllm_plan.check_runnable("cuda", has_vllm=False)
    with pytest.raises(vllm_plan.VllmUnavailable, match="needs a CUDA GPU.*engine='local'"):
        vllm_plan.check_runnable("cpu", has_vllm=True)
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    adapter = fake_adapter(tmp_path / "ad", str(base), 8)
    if vllm_plan.vllm_importable():
        pytest.skip("vllm is installed here; the refusal without it cannot be shown")
    with pytest.raises(DeployError, match="engine: .*pip install vllm"):
        ft.deploy(adapters=[str(adapter)], name="v", engine="vllm", quiet=True)
    assert endpoint_store.names(ws) == []  # refused before anything was recorded or started
