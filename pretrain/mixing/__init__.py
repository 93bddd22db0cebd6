"""Learned data-mixing weights (DoReMi) over the project's own model and token shards."""

from pretrain.mixing.doremi import (
    DoReMiConfig,
    DoReMiResult,
    exponentiated_gradient_step,
    learn_doremi_weights,
)
from pretrain.mixing.learned_config import learned_data_config, write_learned_config

__all__ = [
    "DoReMiConfig",
    "DoReMiResult",
    "exponentiated_gradient_step",
    "learn_doremi_weights",
    "learned_data_config",
    "write_learned_config",
]
