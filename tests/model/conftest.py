from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from pretrain.model import BaichuanForCausalLM, ModelConfig

REPO = Path(__file__).resolve().parents[2]


def load_model_config(name: str, **overrides) -> ModelConfig:
    """A ModelConfig from conf/model/<name>.yaml the way Hydra builds it (structured merge)."""
    merged = OmegaConf.merge(OmegaConf.structured(ModelConfig), OmegaConf.load(REPO / "conf" / "model" / f"{name}.yaml"))
    return ModelConfig(**{**OmegaConf.to_object(merged).__dict__, **overrides})


def small_config(**overrides) -> ModelConfig:
    base = dict(vocab_size=97, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64, max_seq_len=64)
    return ModelConfig(**{**base, **overrides})


def build(cfg: ModelConfig, seed: int = 0) -> BaichuanForCausalLM:
    torch.manual_seed(seed)
    return BaichuanForCausalLM(cfg).eval()


@pytest.fixture
def corpus_dir() -> Path:
    path = REPO / ".." / "shared" / "data" / "corpus"
    if not path.is_dir():
        pytest.skip("shared corpus not present")
    return path
