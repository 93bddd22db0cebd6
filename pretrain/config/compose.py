"""Turn command-line overrides into a validated `PretrainConfig`, or one clear line of error.

We use Hydra's compose API rather than `@hydra.main`: the same YAML groups and override grammar
(`model=baichuan_7b train.lr=1e-4 +x=y`), but no working-directory change, no `outputs/` litter, and errors
we can print as one line. The DeepSpeed launcher appends `--local_rank=N`, which Hydra would reject; it is
stripped here (the rank comes from the environment).
"""

from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from data_pipeline.hydra_cli import hydra_error_line
from pretrain.config.schema import PretrainConfig, register_configs
from pretrain.config.validate import ConfigError, check_kernels_can_train, validate_config

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def strip_launcher_args(argv: list[str]) -> list[str]:
    """Drop `--local_rank=N` / `--local_rank N` that `deepspeed` (without --no_local_rank) appends."""
    kept: list[str] = []
    skip_next = False
    for arg in argv:
        if skip_next:
            skip_next = False
            continue
        if arg.startswith("--local_rank=") or arg.startswith("--local-rank="):
            continue
        if arg in ("--local_rank", "--local-rank"):
            skip_next = True
            continue
        kept.append(arg)
    return kept


def compose_config(overrides: list[str], config_name: str = "pretrain") -> PretrainConfig:
    """Compose conf/<config_name>.yaml with overrides into a typed, validated config."""
    register_configs()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            cfg = compose(config_name=config_name, overrides=overrides)
        config = OmegaConf.to_object(cfg)
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(hydra_error_line(exc)) from None
    validate_config(config)
    return config


def config_from_argv(argv: list[str] | None = None) -> PretrainConfig:
    """The training entry points' front door: parse sys.argv, or exit 2 with one line on a bad config or on a
    kernel that cannot train on this machine's device."""
    args = strip_launcher_args(sys.argv[1:] if argv is None else argv)
    try:
        config = compose_config(args)
        check_kernels_can_train(config)
        return config
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def to_yaml(config: PretrainConfig) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(config))
