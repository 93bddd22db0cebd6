"""Hydra for every command-line tool of the project, without `@hydra.main`.

Same override grammar (``key=value``, ``+key=value``, groups), but no working-directory change, no
``outputs/`` litter, and every composition error (typo'd key, wrong type, unknown option) becomes one line:
the headline, the reason and the key, without Hydra's detail dump. Lives in data_pipeline, the package
every other one may import, so the pipeline, tokenizer, evaluation and trainer CLIs all answer alike.
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

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
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


def hydra_error_line(exc: BaseException) -> str:
    """Hydra/OmegaConf messages are a headline, a reason, detail lines (`full_key:`, `object_type=`) and
    sometimes a search-path dump; keep the headline and the reason, list options on one line, name the key."""
    chain = [exc]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    lines = [line.strip() for err in chain for line in str(err).strip().splitlines() if line.strip()]
    key = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("full_key:")), "")
    noise = ("full_key", "object_type", "reference_type", "To append", "Set the environment")
    kept: list[str] = []
    for line in lines:
        if line.startswith("Config search path"):
            break
        if not line.startswith(noise):
            kept.append(line)
    text = " — ".join(kept).replace(": — ", ": ").replace(" — ", ", ") if any(
        line.startswith("Available options") for line in kept) else " — ".join(kept)
    return f"{text} (key: {key})" if key and key not in text else text
