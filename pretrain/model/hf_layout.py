"""Key and config mappings between this model and the Hugging Face layouts (pure: tensors and dicts, no files).

* `baichuan`: the released Baichuan-7B/13B layout. Our parameter names are the released ones, so weights pass
  through unchanged (`W_pack` = [q; k; v] rows).
* `llama`: `transformers.LlamaForCausalLM` (RoPE models only). `W_pack` splits into q/k/v_proj. Both code
  bases rotate "half" dimensions, so no row permutation is needed.
"""

from __future__ import annotations

import torch

from .config import ModelConfig

FORMATS = ("baichuan", "llama")


def expected_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor of the released layout with its shape."""
    h, i, v = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    shapes = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,), "lm_head.weight": (v, h)}
    for n in range(cfg.num_layers):
        p = f"model.layers.{n}."
        shapes |= {
            p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.W_pack.weight": (3 * h, h), p + "self_attn.o_proj.weight": (h, h),
            p + "mlp.gate_proj.weight": (i, h), p + "mlp.up_proj.weight": (i, h), p + "mlp.down_proj.weight": (h, i),
        }
    return shapes


def check_layout(state_dict: dict[str, torch.Tensor], cfg: ModelConfig) -> None:
    """Raise ValueError naming the first missing, unexpected or misshaped tensor."""
    expected = expected_shapes(cfg)
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise ValueError(f"weights do not match the Baichuan layout: missing {missing[:3]}, unexpected {unexpected[:3]}")
    for name, shape in expected.items():
        if tuple(state_dict[name].shape) != shape:
            raise ValueError(f"{name} has shape {tuple(state_dict[name].shape)}, expected {shape} for this config")


def to_llama(state_dict: dict[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    if cfg.position != "rope":
        raise ValueError("the llama layout has no ALiBi — export ALiBi models (Baichuan-13B) with format=baichuan")
    out = {}
    for name, tensor in state_dict.items():
        if name.endswith("self_attn.W_pack.weight"):
            prefix = name.removesuffix("W_pack.weight")
            for part, chunk in zip(("q_proj", "k_proj", "v_proj"), tensor.chunk(3, dim=0)):
                out[f"{prefix}{part}.weight"] = chunk.contiguous()
        else:
            out[name] = tensor
    return out


def from_llama(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fuse q/k/v_proj back into W_pack; other names are shared by both layouts."""
    out = {}
    for name, tensor in state_dict.items():
        if name.endswith("self_attn.q_proj.weight"):
            prefix = name.removesuffix("q_proj.weight")
            parts = [state_dict[f"{prefix}{p}_proj.weight"] for p in "qkv"]
            out[f"{prefix}W_pack.weight"] = torch.cat(parts, dim=0)
        elif not name.endswith(("self_attn.k_proj.weight", "self_attn.v_proj.weight", "rotary_emb.inv_freq")):
            out[name] = tensor
    return out


def _common_config(cfg: ModelConfig, dtype: torch.dtype) -> dict:
    return {
        "hidden_size": cfg.hidden_size, "intermediate_size": cfg.intermediate_size,
        "num_attention_heads": cfg.num_heads, "num_hidden_layers": cfg.num_layers,
        "vocab_size": cfg.vocab_size, "rms_norm_eps": cfg.norm_eps, "hidden_act": "silu",
        "initializer_range": cfg.initializer_range, "tie_word_embeddings": False,
        "pad_token_id": cfg.pad_token_id, "bos_token_id": cfg.bos_token_id, "eos_token_id": cfg.eos_token_id,
        "torch_dtype": str(dtype).removeprefix("torch."), "use_cache": True,
    }


def baichuan_config_json(cfg: ModelConfig, dtype: torch.dtype) -> dict:
    """config.json in the released form: 7B (RoPE) names `BaiChuanForCausalLM` and `max_position_embeddings`,
    13B (ALiBi) `BaichuanForCausalLM` and `model_max_length`. The modeling code itself is the release's
    remote code (`modeling_baichuan.py`), which is not ours to ship."""
    common = _common_config(cfg, dtype) | {"model_type": "baichuan", "position_embedding": cfg.position}
    if cfg.position == "rope":
        arch = "BaiChuanForCausalLM"
        extra = {"max_position_embeddings": cfg.max_seq_len, "rope_theta": cfg.rope_theta}
    else:
        arch = "BaichuanForCausalLM"
        extra = {"model_max_length": cfg.max_seq_len}
    auto_map = {"AutoConfig": f"configuration_baichuan.{arch.replace('ForCausalLM', 'Config')}",
                "AutoModelForCausalLM": f"modeling_baichuan.{arch}"}
    return common | extra | {"architectures": [arch], "auto_map": auto_map}


def llama_config_json(cfg: ModelConfig, dtype: torch.dtype) -> dict:
    return _common_config(cfg, dtype) | {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "num_key_value_heads": cfg.num_heads, "max_position_embeddings": cfg.max_seq_len,
        "rope_theta": cfg.rope_theta, "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "attention_bias": False, "mlp_bias": False, "head_dim": cfg.head_dim,
    }


def config_from_hf(config: dict, name: str = "imported") -> ModelConfig:
    """ModelConfig from a released Baichuan or a Llama config.json. Position: our explicit key when present;
    else Llama and any config with `max_position_embeddings` (Baichuan-7B) use RoPE, and a Baichuan config
    without it (Baichuan-13B, which has `model_max_length`) uses ALiBi."""
    position = config.get("position_embedding")
    if position is None:
        position = "rope" if "max_position_embeddings" in config else "alibi"
    max_len = config.get("max_position_embeddings", config.get("model_max_length", 4096))
    if config.get("num_key_value_heads", config["num_attention_heads"]) != config["num_attention_heads"]:
        raise ValueError("grouped-query attention (num_key_value_heads < num_attention_heads) is not Baichuan")
    return ModelConfig(
        name=name, vocab_size=config["vocab_size"], hidden_size=config["hidden_size"],
        num_layers=config["num_hidden_layers"], num_heads=config["num_attention_heads"],
        intermediate_size=config["intermediate_size"], max_seq_len=max_len, position=position,
        rope_theta=float(config.get("rope_theta", 10000.0)), norm_eps=config.get("rms_norm_eps", 1e-6),
        initializer_range=config.get("initializer_range", 0.02), pad_token_id=config.get("pad_token_id", 0),
        bos_token_id=config.get("bos_token_id", 1), eos_token_id=config.get("eos_token_id", 2),
    ).validate()
