"""The `finetune:` node of the training config. Empty `init_from` means pretraining; set, the same trainer
fine-tunes those weights on instruction data (docs/finetune.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List  # noqa: UP035 - OmegaConf needs typing generics on py3.10


@dataclass
class LoraSettings:
    # 0 = full fine-tuning; > 0 = train only LoRA adapters of this rank (peft), the base weights frozen.
    rank: int = 0
    alpha: float = 16.0  # the adapter's update is scaled by alpha / rank
    dropout: float = 0.0
    # Linear layers that get adapters (names in pretrain/model/baichuan.py; W_pack is the fused q/k/v).
    targets: List[str] = field(default_factory=lambda: ["W_pack", "o_proj", "gate_proj", "up_proj", "down_proj"])  # noqa: UP006


@dataclass
class FinetuneConfig:
    # Weights to start from: a training checkpoint (step_N dir or checkpoint root) or a Hugging Face directory
    # (pretrain.export output, or the released Baichuan layout). Empty = pretraining from scratch.
    init_from: str = ""
    # Instruction JSONL: files, globs or folders ({"prompt", "response"} or {"messages": [...]} per line).
    data: List[str] = field(default_factory=list)  # noqa: UP006
    lora: LoraSettings = field(default_factory=LoraSettings)
