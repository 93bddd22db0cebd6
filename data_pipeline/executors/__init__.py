"""Executors run a list of stages over input shards; stages know nothing about them.

Every executor exposes the same entry point (``local.run_pipeline`` and ``ray.run_pipeline``)::

    def run_pipeline(
        stages: Sequence[Stage],            # in order; split into segments at each CorpusStage
        sources: Sequence[ShardSource],     # data_pipeline.readers.ShardSource: .info (ShardInfo), .read()
        output_dir: Path,                   # writes kept/, rejected/, stats.json, _work/ (markers, state)
        workers: int | None = None,         # parallel shard workers; None = all cores
        progress: bool = True,              # per-stage progress bars with docs/s
    ) -> dict:                              # the stats dict also written to output_dir/stats.json

``sources[i].read()`` yields the shard's records, including records the reader already rejected (invalid
JSON, bad UTF-8, ...) with ``reject_reason="read:<rule>"``; the executor accounts them under the stage
``read``. An unreadable file raises `data_pipeline.errors.UnreadableShardError` from ``read()``; the executor
records it under ``stats["errors"]`` and the run continues.

Output layout (the same for every executor): ``kept/<shard>.jsonl.gz``, ``rejected/seg<segment>-<shard>.jsonl.gz``,
``stats.json``: ``{"stages": {name: {"docs_in", "docs_kept", "docs_rejected", "chars_in", "chars_kept",
"chars_rejected", "rules": {rule: {"docs", "chars"}}}}, "shards": [...], "errors": [...], "totals": {...}}``.
"""

from __future__ import annotations

from data_pipeline.executors.local import run_pipeline as run_locally
from data_pipeline.executors.ray import run_pipeline as run_on_ray  # imports Ray itself only when it runs


def run_pipeline_for(kind: str):
    """The `run_pipeline` function of the executor named `kind` ('local' or 'ray')."""
    if kind == "local":
        return run_locally
    if kind == "ray":
        return run_on_ray
    raise ValueError(f"unknown executor kind {kind!r}")
