"""LoRA through `peft`: adapters on the configured linear layers, the rest frozen; and merging them back.

`peft.tuners.lora.LoraModel` wraps our single-device model as it is (no Hugging Face base class needed): its
forward is the model's, and only `lora_A`/`lora_B` require gradients, so the optimizer's parameter groups
(pretrain/optimizer.py, which take trainable parameters only) and DeepSpeed see just the adapters.
"""

from __future__ import annotations

import torch

from pretrain.finetune.config import LoraSettings

ADAPTER = "default"


def with_lora(model: torch.nn.Module, settings: LoraSettings) -> torch.nn.Module:
    # lazy: peft takes seconds to import (~10 s on a busy 2-core machine); only LoRA runs need it
    from peft import LoraConfig
    from peft.tuners.lora import LoraModel

    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=list(settings.targets))
    return LoraModel(model, config, ADAPTER)


def is_adapter_key(key: str) -> bool:
    return ".lora_A." in key or ".lora_B." in key


def merged_state_dict(base_model: torch.nn.Module, adapters: dict[str, torch.Tensor],
                      settings: LoraSettings) -> dict[str, torch.Tensor]:
    """The base model's weights with the trained adapters folded in (W + alpha/rank · B·A), in the base model's
    own key names — what export, generation and evaluation load like any other checkpoint."""
    wrapped = with_lora(base_model, settings)
    missing = [key for key in wrapped.state_dict() if is_adapter_key(key) and key not in adapters]
    if missing:
        raise ValueError(f"the checkpoint lacks adapter tensors the LoRA settings imply, e.g. {missing[0]}")
    wrapped.load_state_dict(adapters, strict=False)
    return {key: value.detach().clone() for key, value in wrapped.merge_and_unload().state_dict().items()}
