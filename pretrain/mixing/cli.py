"""`python -m pretrain.mixing learn=doremi sources=... output=conf/data/learned.yaml` (was
`python -m data_pipeline.mix`, which now answers with the new command).

    sources=demo                         a conf/data preset (its fractions/weights are the initial mixture)
    sources=path/to/data.yaml            a data-config YAML
    sources=[zh:SHARDS/zh,en:SHARDS/en]  token-shard directories at natural proportions (+ tokenizer=...)

Reference and proxy are `model=<conf/model preset>` (default tiny) with the vocabulary of the shards.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, OmegaConf

from data_pipeline.formats.token_shard_set import TokenShardSet
from data_pipeline.formats.token_shards import TokenShardError
from plumbing.command_line import CommandLine
from pretrain.checkpoint import CheckpointNotFound
from pretrain.data import DataConfig, DataConfigError
from pretrain.evaluation.data_spec import inline_data_config, load_data_config
from pretrain.mixing.doremi import DoReMiConfig, learn_doremi_weights
from pretrain.mixing.learned_config import write_learned_config
from pretrain.model import ModelConfig

METHODS = ("doremi",)
CONF_MODEL_DIR = Path(__file__).resolve().parents[2] / "conf" / "model"


@dataclass
class MixConfig:
    learn: str = "doremi"  # the method (doremi)
    sources: Any = MISSING  # a preset name or YAML path (str), or a list of name:shard_dir
    output: str = MISSING  # the data-config YAML to write (e.g. conf/data/learned.yaml)
    tokenizer: str = ""  # kept in the output config; for the name:path form of `sources`
    model: str = "tiny"  # conf/model preset of the reference and proxy models
    doremi: DoReMiConfig = field(default_factory=DoReMiConfig)


def resolve_sources(spec: Any, tokenizer: str) -> DataConfig:
    if isinstance(spec, str) and ":" not in spec:
        data = load_data_config(spec)
    else:
        data = inline_data_config([spec] if isinstance(spec, str) else [str(s) for s in spec], tokenizer)
    if tokenizer:
        data.tokenizer = tokenizer
    if len(data.sources) < 2:
        raise DataConfigError(f"sources {spec!r} has {len(data.sources)} source(s) — mixing needs at least two")
    return data


def proxy_model_config(preset: str, data: DataConfig, seq_len: int) -> ModelConfig:
    """The preset, with the vocabulary the shards were tokenized with."""
    path = CONF_MODEL_DIR / f"{preset}.yaml"
    if not path.is_file():
        raise DataConfigError(f"model={preset!r} is not a preset in conf/model — pick one of "
                              f"{sorted(p.stem for p in CONF_MODEL_DIR.glob('*.yaml'))}")
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(ModelConfig), OmegaConf.load(path)))
    cfg.vocab_size = max(TokenShardSet.from_path(s.path).vocab_size for s in data.sources)
    cfg.max_seq_len = max(cfg.max_seq_len, seq_len)
    return cfg


def run(config: MixConfig, command: str) -> dict:
    if config.learn not in METHODS:
        raise DataConfigError(f"learn={config.learn!r} is not one of {METHODS}")
    data = resolve_sources(config.sources, config.tokenizer)
    model_cfg = proxy_model_config(config.model, data, config.doremi.seq_len)
    result = learn_doremi_weights(data, model_cfg, config.doremi)
    path = write_learned_config(data, result, config.output, command)
    return {"output": str(path), **asdict(result)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = CommandLine(
        prog="python -m pretrain.mixing",
        summary="learn data-mixing weights (DoReMi) with small proxy models and write them as a data config",
        example="learn=doremi sources=[zh:/data/shards/zh,en:/data/shards/en] tokenizer=TOK output=conf/data/learned.yaml",
        schema=MixConfig, config_name="mix",
        also_user_errors=(TokenShardError, CheckpointNotFound, ValueError),  # bad shards or values, as before
    )

    def learn_and_report(config: MixConfig) -> int:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                            stream=sys.stdout)
        summary = run(config, "python -m pretrain.mixing " + shlex.join(argv))
        print(json.dumps(summary, indent=2))
        return 0

    return command.run(learn_and_report, argv)
