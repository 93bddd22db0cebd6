"""Run in a subprocess by test_zero3.py: build under deepspeed.zero.Init, compare init and one training step."""

import json
import os
import sys

import torch

os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=sys.argv[1], RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")

import deepspeed  # noqa: E402

from pretrain.model import BaichuanForCausalLM, ModelConfig  # noqa: E402

deepspeed.init_distributed(dist_backend="gloo")
cfg = ModelConfig(vocab_size=97, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64,
                  position=sys.argv[2], loss_chunk_size=5, activation_checkpointing=1)
ds_config = {"train_micro_batch_size_per_gpu": 2, "zero_optimization": {"stage": 3},
             "optimizer": {"type": "AdamW", "params": {"lr": 1e-3, "torch_adam": True}}}
torch.manual_seed(0)
reference = BaichuanForCausalLM(cfg)
torch.manual_seed(0)
with deepspeed.zero.Init(config_dict_or_path=ds_config):
    model = BaichuanForCausalLM(cfg)
partitioned = all(p.numel() == 0 for p in model.parameters())
with deepspeed.zero.GatheredParameters(list(model.parameters())):
    same_init = all(torch.equal(a, b) for a, b in zip(reference.parameters(), model.parameters()))
engine, *_ = deepspeed.initialize(model=model, config=ds_config, model_parameters=model.parameters())
ids = torch.randint(0, 97, (2, 12), generator=torch.Generator().manual_seed(1))
loss = engine(ids, labels=ids)
engine.backward(loss)
engine.step()
reference_loss = reference(ids, labels=ids)
# zero.Init creates every floating tensor of a constructor in the training dtype: the ALiBi slopes buffer is
# bf16 here, and the first forward must put exact fp32 slopes back (flash-attn and the bias want fp32).
with deepspeed.zero.Init(config_dict_or_path={**ds_config, "bf16": {"enabled": True}}):
    bf16_model = BaichuanForCausalLM(cfg)
slopes_dtype_at_init = str(getattr(bf16_model.model.alibi_slopes, "dtype", None))
with deepspeed.zero.GatheredParameters(list(bf16_model.parameters())), torch.no_grad():
    bf16_model(ids)
slopes = bf16_model.model.alibi_slopes
print(json.dumps({"partitioned": partitioned, "same_init": same_init, "loss": loss.item(),
                  "reference_loss": reference_loss.item(), "slopes_dtype_at_init": slopes_dtype_at_init,
                  "slopes_exact_after_forward": slopes is None or torch.equal(slopes, reference.model.alibi_slopes)}))
