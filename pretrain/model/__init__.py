"""Baichuan-7B/13B model: single-device code that knows nothing of DeepSpeed, Hydra or data files."""

from .baichuan import BaichuanForCausalLM
from .config import ModelConfig
from .kv_cache import KVCache

__all__ = ["BaichuanForCausalLM", "KVCache", "ModelConfig"]
