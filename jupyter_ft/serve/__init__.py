"""Inference: one base model with many LoRA adapters (the engine behind compare, the demo and endpoints)."""
