"""Hydra structured configs for the data_pipeline tokenizer CLIs, composed without `@hydra.main`.

Same override grammar (``key=value``, ``+key=value``), but no working-directory change, no ``outputs/``
litter, and every composition error (typo'd key, wrong type, missing value) becomes one `UserError` line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from data_pipeline.errors import UserError
from data_pipeline.hydra_errors import hydra_error_line

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
T = TypeVar("T")


def compose_cli_config(schema: type[T], name: str, overrides: list[str]) -> T:
    """`schema` (a dataclass) with `overrides` applied, as a typed object; a bad override raises UserError."""
    ConfigStore.instance().store(name=name, node=schema)
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            cfg = compose(config_name=name, overrides=overrides)
        return OmegaConf.to_object(cfg)
    except (HydraException, OmegaConfBaseException) as exc:
        raise UserError(f"bad configuration: {hydra_error_line(exc)}", "fix the key=value arguments") from None
