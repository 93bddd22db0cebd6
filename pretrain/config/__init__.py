"""The pretraining config: dataclass schema, composition from conf/ + overrides, validation."""

from pretrain.config.compose import compose_config, config_from_argv, to_yaml
from pretrain.config.schema import (
    ClusterConfig,
    DeepSpeedConfig,
    LoggingConfig,
    PretrainConfig,
    TrainConfig,
)
from pretrain.config.validate import BatchLayout, ConfigError, resolve_batch_layout

__all__ = [
    "BatchLayout",
    "ClusterConfig",
    "ConfigError",
    "DeepSpeedConfig",
    "LoggingConfig",
    "PretrainConfig",
    "TrainConfig",
    "compose_config",
    "config_from_argv",
    "resolve_batch_layout",
    "to_yaml",
]
