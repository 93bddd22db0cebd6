"""Deduplication stages: exact documents, MinHash LSH near-duplicate documents, boilerplate sentences.

    from data_pipeline.dedup import DedupConfig, build_dedup_stages
    stages = build_dedup_stages(DedupConfig())   # [exact_dedup, minhash_dedup, sentence_dedup], enabled ones

Each is a `CorpusStage`: observe every shard, fit once, then run; removed records carry
`reject_reason="<stage>:duplicate"` and `duplicate_of=<kept id>`.
"""

from __future__ import annotations

from data_pipeline.dedup.config import (
    DedupConfig,
    ExactDedupConfig,
    MinHashDedupConfig,
    SentenceDedupConfig,
    validate_dedup_config,
)
from data_pipeline.dedup.exact import ExactDedupStage
from data_pipeline.dedup.minhash import MinHashDedupStage
from data_pipeline.dedup.sentence import SentenceDedupStage
from data_pipeline.stage import Stage

__all__ = [
    "DedupConfig",
    "ExactDedupConfig",
    "MinHashDedupConfig",
    "SentenceDedupConfig",
    "ExactDedupStage",
    "MinHashDedupStage",
    "SentenceDedupStage",
    "build_dedup_stages",
]


def build_dedup_stages(cfg: DedupConfig) -> list[Stage]:
    """The enabled dedup stages in the order they must run (cheap exact first shrinks what LSH sees)."""
    validate_dedup_config(cfg)
    stages: list[Stage] = []
    if cfg.exact.enabled:
        stages.append(ExactDedupStage(seed=cfg.seed, merge_memory_mb=cfg.merge_memory_mb))
    if cfg.minhash.enabled:
        stages.append(MinHashDedupStage(cfg.minhash, seed=cfg.seed, merge_memory_mb=cfg.merge_memory_mb))
    if cfg.sentence.enabled:
        stages.append(SentenceDedupStage(cfg.sentence, seed=cfg.seed, merge_memory_mb=cfg.merge_memory_mb))
    return stages
