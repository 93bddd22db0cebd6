"""Which data to evaluate or mix: a `conf/data/<name>.yaml` preset, a data-config YAML file, or the data config
saved inside a training checkpoint (the default for perplexity: the held-out split is then the one training
never saw)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from pretrain.data import DataConfig, DataConfigError
from pretrain.weights import read_run

CONF_DATA_DIR = Path(__file__).resolve().parents[2] / "conf" / "data"


def _to_data_config(node, origin: str) -> DataConfig:
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(DataConfig), node))
    except OmegaConfBaseException as exc:
        raise DataConfigError(f"{origin} is not a valid data config ({str(exc).splitlines()[0]})") from None


def load_data_config(spec: str) -> DataConfig:
    """`spec` is a preset name under conf/data (`demo`) or a path to a data-config YAML."""
    path = Path(spec)
    if not path.is_file():
        path = CONF_DATA_DIR / f"{spec}.yaml"
    if not path.is_file():
        presets = sorted(p.stem for p in CONF_DATA_DIR.glob("*.yaml"))
        raise DataConfigError(f"data {spec!r} is neither a YAML file nor a preset in conf/data (have {presets}) "
                              "— give a data-config YAML path or a preset name")
    return _to_data_config(OmegaConf.load(path), str(path))


def inline_data_config(entries: list[str], tokenizer: str = "") -> DataConfig:
    """`["name:path", ...]` (token-shard directories, natural proportions) as a data config."""
    sources = []
    for part in entries:
        name, sep, path = part.partition(":")
        if not sep or not name or not path:
            raise DataConfigError(f"source {part!r} is not name:path — write sources=[zh:/shards/zh,en:/shards/en]")
        sources.append({"name": name.strip(), "path": path.strip()})
    return _to_data_config({"sources": sources, "tokenizer": tokenizer}, "sources")


def checkpoint_data(checkpoint: str) -> tuple[DataConfig, int]:
    """(data config, train.seq_len) a training checkpoint was trained with."""
    # verify=False: the model load before this digested every file already; reading the config is enough.
    ref, saved = read_run(checkpoint, verify=False)
    return _to_data_config(saved.data, f"{ref.path}/config.yaml"), int(saved.train.seq_len)
