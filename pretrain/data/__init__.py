"""Data for pretraining: the mixture config and the resumable, data-parallel loader over token shards."""

from pretrain.data.config import DataConfig, SourceConfig

__all__ = ["DataConfig", "SourceConfig"]
