"""Hydra composition for every command, without `@hydra.main`.

Same YAML groups and override grammar (``key=value``, ``+key=value``, ``group=option``), but no working-directory
change, no ``outputs/`` litter, and every composition error (typo'd key, wrong type, unknown option) becomes
one `ConfigError` line: the headline, the reason and the key, without Hydra's detail dump.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hydra import compose, initialize, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from plumbing.user_error import ConfigError

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
T = TypeVar("T")


@dataclass(frozen=True)
class PrimaryConfig:
    """Where the primary config comes from when the user names one (`--config-dir DIR --config-name NAME`,
    e.g. a file saved from `--cfg job`); conf/ stays on the search path so its groups still resolve."""

    dir: Path
    name: str


def store_name(config_name: str, uses_conf_dir: bool) -> str:
    """The schema's ConfigStore name: conf/<name>.yaml's defaults list starts from `<name>_schema`; a
    schema-only command is its own primary config."""
    return f"{config_name}_schema" if uses_conf_dir else config_name


def compose_typed(schema: type[T], config_name: str, overrides: list[str], *, uses_conf_dir: bool,
                  primary: PrimaryConfig | None = None, fix: str = "fix the key=value arguments") -> T:
    """`schema` filled from conf/<config_name>.yaml (uses_conf_dir) or from the schema alone, with `overrides`
    applied, as a typed object. A bad override raises ConfigError.

    A schema-only command composes without conf/ on the search path: otherwise an argument such as
    `data=demo` or `model=tiny` would be taken for conf/'s group of that name and refused."""
    ConfigStore.instance().store(name=store_name(config_name, uses_conf_dir), node=schema)
    try:
        if primary is not None:
            with initialize_config_dir(config_dir=str(primary.dir.resolve()), version_base=None):
                search = [f"hydra.searchpath=[file://{CONF_DIR}]"] if uses_conf_dir else []
                composed = compose(config_name=primary.name, overrides=[*search, *overrides])
        elif uses_conf_dir:
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
                composed = compose(config_name=config_name, overrides=overrides)
        else:
            with initialize(config_path=None, version_base=None):
                composed = compose(config_name=config_name, overrides=overrides)
        # A user's YAML (from --cfg job) carries no schema: merging onto it types and checks every key.
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), composed))
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(f"bad configuration: {hydra_error_line(exc)}", fix) from None


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


def to_yaml(config: object) -> str:
    """A composed config (a dataclass instance) as the YAML `--cfg job` prints."""
    return OmegaConf.to_yaml(OmegaConf.structured(config))
