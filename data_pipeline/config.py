"""The pipeline's structured config: one dataclass tree, registered with Hydra, YAML in conf/pipeline*.

    cfg = compose_pipeline_config(["input.paths=[a.jsonl]", "output.dir=OUT"])

A typo'd key or a wrong type fails with one line naming the key (a `UserError`, exit 2 from the CLI).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import MISSING

from data_pipeline.decontaminate import DecontaminationConfig
from data_pipeline.dedup.config import DedupConfig
from data_pipeline.errors import UserError
from data_pipeline.filters.config import FiltersConfig
from data_pipeline.langid.script import LangIdConfig
from data_pipeline.normalize.stage import NormalizeConfig
from data_pipeline.pii.stage import PiiConfig
from data_pipeline.quality.config import QualityConfig
from data_pipeline.readers.source import InputConfig
from plumbing.command_line import CommandLine
from plumbing.hydra_compose import PrimaryConfig, compose_typed
from plumbing.input_files import input_entries

EXECUTOR_KINDS = ("local", "ray")


@dataclass
class OutputConfig:
    dir: str = MISSING  # kept/, rejected/, stats.json, report.md, _work/ (resume state) go here


@dataclass
class ExecutorConfig:
    kind: str = "local"  # local | ray
    workers: int = 0  # parallel shard workers; 0 = all cores
    address: str | None = None  # Ray cluster address (kind=ray); None starts a local Ray
    progress: bool = True  # per-stage progress bars with docs/s on stderr


@dataclass
class ReportConfig:
    enabled: bool = True  # OUT/report.md with PNG histograms (needs matplotlib)


@dataclass
class PipelineConfig:
    input: InputConfig = field(default_factory=InputConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    langid: LangIdConfig = field(default_factory=LangIdConfig)
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    pii: PiiConfig = field(default_factory=PiiConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    decontamination: DecontaminationConfig = field(default_factory=DecontaminationConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def worker_count(self) -> int:
        return self.executor.workers or os.cpu_count() or 1


def validate_pipeline_config(cfg: PipelineConfig) -> None:
    cfg.input.paths = input_entries(cfg.input.paths)  # one path/glob or a list: stored as the list
    if cfg.executor.kind not in EXECUTOR_KINDS:
        raise UserError(f"executor.kind={cfg.executor.kind!r} is not one of {EXECUTOR_KINDS}", "pick one of them")
    if cfg.executor.workers < 0:
        raise UserError(f"executor.workers={cfg.executor.workers} is negative", "use 0 (all cores) or a count")
    for lang in ("zh", "en"):
        threshold = getattr(cfg.quality, f"threshold_{lang}")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise UserError(f"quality.threshold_{lang}={threshold} is outside [0, 1]", "use a probability")
    if cfg.quality.model_path and not Path(cfg.quality.model_path).is_file():
        raise UserError(f"quality.model_path {cfg.quality.model_path} does not exist",
                        "train one with `python -m data_pipeline.quality train` or set quality.model_path=null")
    cfg.pii.validate()
    cfg.decontamination.validate()
    if cfg.input.max_chars <= 0:
        raise UserError(f"input.max_chars={cfg.input.max_chars} must be positive", "set a positive limit")


def compose_pipeline_config(overrides: list[str], config_name: str = "pipeline",
                            primary: PrimaryConfig | None = None) -> PipelineConfig:
    """conf/<config_name>.yaml + command-line overrides → a validated PipelineConfig (or UserError)."""
    cfg = compose_typed(PipelineConfig, config_name, overrides, uses_conf_dir=True, primary=primary,
                        fix="check the key and its type in `python -m data_pipeline.run --help`")
    validate_pipeline_config(cfg)
    return cfg


PIPELINE_COMMAND = CommandLine(
    prog="python -m data_pipeline.run",
    summary="clean, filter, score and deduplicate documents into OUT/kept, OUT/rejected and OUT/stats.json",
    example="input.paths=[/data/zh/*.jsonl.gz,/data/en.parquet] output.dir=/data/clean executor.workers=8",
    schema=PipelineConfig, config_name="pipeline", uses_conf_dir=True,
    compose=lambda overrides, primary: compose_pipeline_config(overrides, primary=primary),
)
