"""The playground tests' endpoint: the real OpenAI-compatible app of `jupyter_ft.serve` over the tiny base and a
LoRA adapter with random weights (so the two answer differently), on loopback.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from jupyter_ft.core.procs import free_port


def random_adapter(base: Path, out: Path, seed: int = 1) -> Path:
    """A LoRA adapter with random (non-zero) weights on `base`: its greedy answers differ from the base's."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                            init_lora_weights=False))
    peft.save_pretrained(out)
    return out


class EndpointServer:
    """The endpoint issue's real OpenAI-compatible app (`serve.openai_app.create_app` over a `ServeConfig`) on
    loopback, served by uvicorn in a thread of the test process (no second process to import torch again)."""

    def __init__(self, base: Path, adapters: dict[str, Path], served_name: str = "tiny"):
        import uvicorn

        from jupyter_ft.core.spec.deploy import ServeConfig
        from jupyter_ft.serve.openai_app import create_app

        self.port = free_port()
        self.config = ServeConfig(base_model=str(base), served_name=served_name, port=self.port, device="cpu",
                                  adapters={k: str(v) for k, v in adapters.items()})
        self.models = [served_name, *adapters]
        self._server = uvicorn.Server(uvicorn.Config(create_app(self.config), host="127.0.0.1", port=self.port,
                                                     log_level="warning", access_log=False))
        self._thread = threading.Thread(target=self._server.run, name="playground-endpoint", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> EndpointServer:
        self._thread.start()
        deadline = time.time() + 60
        while not self._server.started:
            if time.time() > deadline or not self._thread.is_alive():
                raise RuntimeError("the playground's test endpoint did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, tiny_model):
    """The tiny base and a random LoRA adapter on it: two models whose greedy answers differ."""
    return tiny_model, random_adapter(tiny_model, tmp_path_factory.mktemp("pg-adapter") / "tiny-b")


@pytest.fixture(scope="module")
def server(two_models):
    """The endpoint serving them as `tiny` (the base) and `tiny-b` (the adapter); stopped after the module."""
    s = EndpointServer(two_models[0], {"tiny-b": two_models[1]}).start()
    yield s
    s.stop()
