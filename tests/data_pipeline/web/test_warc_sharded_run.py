"""A WARC bigger than `input.web.warc_shard_mb` runs as several shards in parallel, with output identical to a
one-worker run, on the local and the Ray executor."""

from __future__ import annotations

import pytest

from data_pipeline.config import compose_pipeline_config
from data_pipeline.executors import run_pipeline_for
from data_pipeline.executors.ray import ray_available
from data_pipeline.formats.jsonl import read_jsonl
from data_pipeline.readers import discover_sources
from data_pipeline.run import build_stages
from tests.data_pipeline.web.warc_builder import real_pages, warc_record, write_warc


def _records(out_dir, folder: str) -> list[dict]:
    return [r for path in sorted((out_dir / folder).glob("*.jsonl.gz")) for r in read_jsonl(path)]


def _sharded_warc(tmp_path):
    pages = real_pages()
    records = [warc_record(f"{pages[i % 2][1]}?page={i}", pages[i % 2][0]) for i in range(24)]
    records.insert(5, warc_record("http://x/req", b"GET / HTTP/1.1\r\n\r\n", record_type="request", http=False))
    path = write_warc(tmp_path / "crawl.warc", records)  # 1.7 MB: 2 shards
    cfg = compose_pipeline_config([f"input.paths=[{path}]", f"output.dir={tmp_path}/unused",
                                   "input.web.warc_shard_mb=1", "executor.progress=false", "report.enabled=false"])
    sources = discover_sources(cfg.input)
    assert len(sources) >= 2 and path.stat().st_size > 1 << 20
    return cfg, sources


@pytest.mark.slow
def test_local_one_and_two_workers_give_identical_output(tmp_path):
    cfg, sources = _sharded_warc(tmp_path)
    stats = {workers: run_pipeline_for("local")(build_stages(cfg), sources, tmp_path / f"w{workers}",
                                                workers=workers, progress=False) for workers in (1, 2)}
    assert stats[1]["stages"] == stats[2]["stages"]
    for folder in ("kept", "rejected"):
        assert _records(tmp_path / "w1", folder) == _records(tmp_path / "w2", folder)
    assert stats[1]["totals"]["docs_read"] == 25  # every record once, the request record included
    kept = _records(tmp_path / "w1", "kept")
    assert kept and all(r["meta"]["url"].startswith("http") for r in kept)


@pytest.mark.slow
@pytest.mark.skipif(not ray_available(), reason="ray is an optional extra")
def test_ray_reads_the_shards_to_the_same_output(tmp_path):
    cfg, sources = _sharded_warc(tmp_path)
    local = run_pipeline_for("local")(build_stages(cfg), sources, tmp_path / "local", workers=2, progress=False)
    ray = run_pipeline_for("ray")(build_stages(cfg), sources, tmp_path / "ray", workers=2, progress=False)
    assert local["stages"] == ray["stages"]
    for folder in ("kept", "rejected"):
        assert _records(tmp_path / "local", folder) == _records(tmp_path / "ray", folder)
