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

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
T = TypeVar("T")


def _one_line(exc: BaseException) -> str:
    """Hydra's sentence plus its cause's (which names the key and the problem), without the detail lines."""
    text = f"{exc}\n{exc.__cause__}" if exc.__cause__ is not None else str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    key = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("full_key:")), "")
    detail = [
        line
        for line in lines
        if not line.startswith(("full_key", "object_type", "reference_type", "To append"))
    ]
    head = " ".join(detail[:2])
    return f"{head} (key: {key})" if key and key not in head else head


def compose_cli_config(schema: type[T], name: str, overrides: list[str]) -> T:
    """`schema` (a dataclass) with `overrides` applied, as a typed object; a bad override raises UserError."""
    ConfigStore.instance().store(name=name, node=schema)
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            cfg = compose(config_name=name, overrides=overrides)
        return OmegaConf.to_object(cfg)
    except (HydraException, OmegaConfBaseException) as exc:
        raise UserError(f"bad configuration: {_one_line(exc)}", "fix the key=value arguments") from None
