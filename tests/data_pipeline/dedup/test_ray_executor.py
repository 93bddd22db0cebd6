"""The Ray executor (local Ray, 2 CPUs) keeps exactly the records the local executor keeps."""

from __future__ import annotations

import json
import random

import pytest

from data_pipeline.config import compose_pipeline_config
from data_pipeline.dedup.near_duplicates import with_near_duplicates
from data_pipeline.executors import run_pipeline_for
from data_pipeline.executors.ray import ray_available
from data_pipeline.formats.jsonl import read_jsonl
from data_pipeline.readers import discover_sources
from data_pipeline.run import build_stages


def _kept(out_dir):
    return {r["id"]: r["text"] for path in sorted((out_dir / "kept").glob("*.jsonl.gz")) for r in read_jsonl(path)}


def _rejected(out_dir):
    return {r["id"]: (r["reject_reason"], r.get("duplicate_of"))
            for path in sorted((out_dir / "rejected").glob("*.jsonl.gz")) for r in read_jsonl(path)}


@pytest.mark.slow
@pytest.mark.skipif(not ray_available(), reason="ray is an optional extra")
def test_ray_and_local_executors_keep_identical_records(tmp_path, corpus_records):
    import ray

    pool = random.Random(0).sample([r for r in corpus_records if len(r["text"]) > 200], 252)
    base, others = pool[:240], pool[240:]
    records = with_near_duplicates(base, 1, seed=0)
    records += [dict(r, id=r["id"] + "#copy") for r in base[:30]]  # exact copies
    boiler = ("\nAll rights reserved by the original authors. Reproduced here for research use only. "
              "Please cite the source when you quote it.")
    records += [dict(r, text=r["text"] + boiler) for r in others]  # a 3-sentence footer in 12 documents
    random.Random(1).shuffle(records)
    for shard in range(3):
        with open(tmp_path / f"in{shard}.jsonl", "w", encoding="utf-8") as out:
            out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records[shard::3])
    cfg = compose_pipeline_config([f"input.paths=[{tmp_path}/in*.jsonl]", f"output.dir={tmp_path}/unused",
                                   "filters.enabled=false", "executor.progress=false"])
    sources = discover_sources(cfg.input)
    stats = {}
    for kind in ("local", "ray"):
        stats[kind] = run_pipeline_for(kind)(build_stages(cfg), sources, tmp_path / kind, workers=2,
                                            progress=False)
    assert not ray.is_initialized()  # the executor shut down the Ray it started

    kept = _kept(tmp_path / "local")
    assert kept == _kept(tmp_path / "ray")
    assert _rejected(tmp_path / "local") == _rejected(tmp_path / "ray")
    assert stats["local"]["stages"] == stats["ray"]["stages"]
    dedup = {name: stats["local"]["stages"][name]["docs_rejected"]
             for name in ("exact_dedup", "minhash_dedup", "sentence_dedup")}
    assert dedup["exact_dedup"] >= 30 and dedup["minhash_dedup"] >= 50, dedup
    sentence = stats["local"]["stages"]["sentence_dedup"]
    assert sentence["chars_in"] - sentence["chars_kept"] - sentence["chars_rejected"] == 11 * (len(boiler) - 1)
    assert len(kept) + sum(s["docs_rejected"] for s in stats["local"]["stages"].values()) == len(records)
    assert stats["ray"]["corpus_fit"]["sentence_dedup"]["docs_cut"] == 11


def test_ray_executor_without_ray_is_a_user_error(tmp_path, monkeypatch):
    from data_pipeline.errors import UserError
    from data_pipeline.executors import ray as ray_executor

    monkeypatch.setattr(ray_executor, "ray_available", lambda: False)
    with pytest.raises(UserError, match="Ray is not installed"):
        ray_executor.run_pipeline([], [], tmp_path)
