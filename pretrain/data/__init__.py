"""Data for pretraining: the mixture config and the resumable, data-parallel loader over token shards."""

from pretrain.data.batch import batch_to_device, packed_batch
from pretrain.data.config import DataConfig, SourceConfig
from pretrain.data.errors import DataConfigError, DataStateMismatchError, DataStateVersionError
from pretrain.data.loader import PretrainDataLoader

__all__ = [
    "DataConfig", "DataConfigError", "DataStateMismatchError", "DataStateVersionError", "PretrainDataLoader", "SourceConfig", "batch_to_device",
    "packed_batch",
]
