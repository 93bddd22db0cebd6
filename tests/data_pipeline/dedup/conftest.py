"""Helpers shared by the dedup tests: real corpus location and a driver for CorpusStage without executor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_pipeline.stage import ShardInfo

CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "corpus"


def load_corpus(pattern: str = "*.jsonl") -> list[dict]:
    files = sorted(CORPUS.glob(pattern)) if CORPUS.is_dir() else []
    if not files:
        pytest.skip(f"real corpus not found at {CORPUS}")
    return [json.loads(line) for path in files for line in path.open(encoding="utf-8")]


def drive_stage(stage, shards: list[list[dict]], workdir: Path) -> list[list[dict]]:
    """observe every shard, fit, run every shard — what an executor does; records are copied."""
    infos = [ShardInfo(i, len(shards), f"shard-{i}") for i in range(len(shards))]
    for info, shard in zip(infos, shards):
        stage.observe(iter([dict(r) for r in shard]), info, workdir)
    stage.fit(workdir, len(shards))
    return [list(stage.run(iter([dict(r) for r in shard]), info)) for info, shard in zip(infos, shards)]


@pytest.fixture
def corpus_records() -> list[dict]:
    return load_corpus()


@pytest.fixture
def drive():
    return drive_stage
