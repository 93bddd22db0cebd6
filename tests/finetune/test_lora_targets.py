"""LoRA cannot target `lm_head` (issue 22 item 11): the head returns the loss, so peft's adapter term turns the
loss into a (batch, seq, vocab) tensor; validation refuses the target with one line."""

from __future__ import annotations

import pytest
import torch

from pretrain.config import ConfigError, PretrainConfig
from pretrain.config.validate import check_finetune_config
from pretrain.finetune.config import LoraSettings
from pretrain.finetune.lora import with_lora
from pretrain.model import BaichuanForCausalLM, ModelConfig


def test_peft_on_lm_head_turns_the_loss_into_a_per_token_tensor():
    """Why the target is refused: peft adds lora_B(lora_A(hidden)) to what LMHead.forward returns — the loss."""
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=96, max_seq_len=16).validate()
    model = with_lora(BaichuanForCausalLM(cfg), LoraSettings(rank=2, targets=["lm_head"]))
    ids = torch.randint(3, 96, (2, 8))
    loss = model(ids, labels=ids)
    assert loss.shape == (2, 8, 96)  # not a scalar: DeepSpeed's backward would refuse it, a mean would be wrong


def test_validation_refuses_lora_on_lm_head_in_one_line():
    config = PretrainConfig()
    config.finetune.init_from, config.finetune.data = "base", ["sft.jsonl"]
    config.finetune.lora.rank, config.finetune.lora.targets = 4, ["W_pack", "lm_head"]
    with pytest.raises(ConfigError, match="lm_head cannot take a LoRA adapter") as raised:
        check_finetune_config(config)
    assert "\n" not in str(raised.value) and "finetune.lora.rank=0" in str(raised.value)
    config.finetune.lora.targets = ["W_pack", "down_proj"]
    check_finetune_config(config)  # the decoder's linears stay allowed
    config.finetune.lora.rank, config.finetune.lora.targets = 0, ["lm_head"]
    check_finetune_config(config)  # full fine-tuning ignores the targets
