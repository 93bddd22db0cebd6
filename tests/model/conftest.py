from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from pretrain.model import BaichuanForCausalLM, ModelConfig
from tests.real_text import real_corpus_dir

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
    """Real zh/en text: the shared corpus, or the sample shipped in tests/fixtures (tests/real_text.py)."""
    return real_corpus_dir()
