"""Sentence dedup's fit as bounded passes of tasks decides exactly what the single-process fit decided (the
one it replaced, kept here as the reference): same removals.json entries in the same order, same summary, on
the shared corpus and on generated boilerplate, with 1 or 2 worker processes, tiny or large merge memory, and
as Ray tasks."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest

from data_pipeline.dedup import SentenceDedupConfig, SentenceDedupStage
from data_pipeline.dedup.bucket_store import shard_dir
from data_pipeline.dedup.clusters import doc_stats, rank_key
from data_pipeline.dedup.sentence_fit import cut_pieces
from data_pipeline.executors.ray import ray_available
from data_pipeline.executors.task_pool import process_task_map
from data_pipeline.stage import ShardInfo, text_of


def reference_fit(stage: SentenceDedupStage, shards: list[list[dict]]) -> tuple[list[dict], dict]:
    """The single-process fit as it was: every boilerplate occurrence and every keeper in RAM."""
    cfg = stage.cfg
    docs, occurrences_by_key = [], defaultdict(list)
    for shard, records in enumerate(shards):
        for local, record in enumerate(records):
            row = len(docs)
            docs.append((shard, local, str(record.get("id")), np.array(doc_stats(record), dtype=[
                ("quality", np.float32), ("length", np.int64), ("cluster_size", np.int64)])[()]))
            for start, end, key in stage.spans(text_of(record)):
                occurrences_by_key[key].append((row, start, end))
    occurrences, groups = [], 0
    for key in sorted(occurrences_by_key):
        members = occurrences_by_key[key]
        if len(members) >= 2 and len({row for row, _, _ in members}) > cfg.max_docs:
            occurrences += [(groups, *m) for m in members]
            groups += 1
    by_doc = defaultdict(list)
    for group, row, start, end in occurrences:
        by_doc[row].append((start, end, group))
    keeper = [None] * groups
    removals: list[dict] = [{} for _ in shards]
    cut = rejected_docs = removed_chars = 0
    for row in sorted(sorted(by_doc), key=lambda r: rank_key(docs[r][3], docs[r][2])):  # ties: smaller row
        spans = sorted(by_doc[row])
        pieces = cut_pieces([(s, e, keeper[g]) for s, e, g in spans if keeper[g] is not None])
        length = int(docs[row][3]["length"])
        left = length - sum(e - s for s, e, _ in pieces)
        rejected = left < cfg.min_keep_chars or left < cfg.min_keep_fraction * length
        if not rejected:
            for start, end, group in spans:
                if keeper[group] is None and not any(s < end and start < e for s, e, _ in pieces):
                    keeper[group] = docs[row][2]
        if pieces:
            shard, local, record_id, _ = docs[row]
            removals[shard][str(local)] = [record_id, {"pieces": [list(p) for p in pieces], "reject": rejected}]
            rejected_docs += rejected
            cut += not rejected
            removed_chars += 0 if rejected else sum(e - s for s, e, _ in pieces)
    summary = {"candidate_spans": sum(len(v) for v in occurrences_by_key.values()), "boilerplate_spans": groups,
               "docs_cut": cut, "docs_rejected": rejected_docs, "removed_chars": removed_chars}
    return [json.dumps(r, ensure_ascii=False) for r in removals], summary


def generated(n: int, seed: int) -> list[dict]:
    """Documents of random sentences; many carry one or more of 40 boilerplate blocks (some twice, some
    nearly all boilerplate, so they are rejected); qualities tie often; a few ids repeat."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(400)]

    def sentence() -> str:
        return " ".join(rng.choice(words, int(rng.integers(4, 12)))).capitalize() + "."

    blocks = [[sentence() for _ in range(int(rng.integers(3, 6)))] for _ in range(40)]
    records = []
    for i in range(n):
        body = [sentence() for _ in range(int(rng.integers(0, 12)))]
        for _ in range(int(rng.integers(0, 4))):
            block = blocks[int(rng.zipf(1.5)) % len(blocks)]
            at = int(rng.integers(0, len(body) + 1))
            body[at:at] = block
        quality = [None, 0.2, 0.5, 0.9][int(rng.integers(4))]
        meta = {"lang": "en"} if quality is None else {"lang": "en", "quality_score": quality}
        records.append({"id": f"d{i if rng.random() > 0.02 else 0:05d}", "text": " ".join(body), "meta": meta})
    return records


def new_fit(tmp_path, records, num_shards, merge_memory_mb, map_tasks=None, cfg=None):
    stage = SentenceDedupStage(cfg or SentenceDedupConfig(max_docs=3), merge_memory_mb=merge_memory_mb)
    shards = [records[i::num_shards] for i in range(num_shards)]
    for index, shard in enumerate(shards):
        stage.observe(iter(shard), ShardInfo(index, num_shards, f"s{index}"), tmp_path)
    if map_tasks is None:
        stage.fit(tmp_path, num_shards)
    else:
        stage.fit(tmp_path, num_shards, map_tasks=map_tasks)
    root = tmp_path / stage.name
    files = [(shard_dir(root, s) / "removals.json").read_text() for s in range(num_shards)]
    assert not (root / "fit").exists()  # the passes' scratch is gone
    return stage, shards, files


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("num_shards,merge_memory_mb", [(1, 256), (4, 1)])
def test_generated_boilerplate_same_as_single_process_fit(tmp_path, workers, num_shards, merge_memory_mb,
                                                          monkeypatch):
    from data_pipeline.dedup import sentence_fit

    if merge_memory_mb == 1:  # many hash ranges and document ranges even on 3,000 documents
        monkeypatch.setattr(sentence_fit, "RANK_BYTES_PER_ROW", 1 << 12)
    records = generated(3000, seed=num_shards)
    with process_task_map(workers) as map_tasks:
        stage, shards, files = new_fit(tmp_path, records, num_shards, merge_memory_mb, map_tasks)
    expected, summary = reference_fit(stage, shards)
    assert files == expected
    assert stage.summary == summary
    assert summary["docs_cut"] > 100 and summary["docs_rejected"] > 10 and summary["boilerplate_spans"] > 20


@pytest.mark.slow
@pytest.mark.parametrize("max_docs", [1, 2])
def test_shared_corpus_same_as_single_process_fit(tmp_path, corpus_records, max_docs):
    footer = ("\nThis article first appeared on our partner site. All rights reserved by the original authors. "
              "Subscribe to our weekly newsletter for more stories like this one.")
    records = [dict(r, text=r["text"] + footer) if i % 7 == 0 else r for i, r in enumerate(corpus_records)]
    with process_task_map(2) as map_tasks:
        stage, shards, files = new_fit(tmp_path, records, 3, 1, map_tasks, SentenceDedupConfig(max_docs=max_docs))
    expected, summary = reference_fit(stage, shards)
    assert files == expected
    assert stage.summary == summary and summary["docs_cut"] > 100


@pytest.mark.slow
@pytest.mark.skipif(not ray_available(), reason="ray is an optional extra")
def test_ray_tasks_same_as_single_process_fit(tmp_path):
    import ray

    from data_pipeline.executors.ray import ray_task_map

    records = generated(1500, seed=7)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        stage, shards, files = new_fit(tmp_path, records, 3, 1, ray_task_map(2))
    finally:
        ray.shutdown()
    expected, summary = reference_fit(stage, shards)
    assert files == expected and stage.summary == summary
