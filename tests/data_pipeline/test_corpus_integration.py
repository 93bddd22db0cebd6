"""The whole pipeline (real stages, dedup included, 2 worker processes) on the real corpus plus junk.

Runs on a sample of ../shared/data/corpus to stay lean; the full-corpus numbers come from
bench/bench_junk_removal.py (docs/benchmarks.md).
"""

import json

import pytest

from data_pipeline.config import compose_pipeline_config
from data_pipeline.formats.jsonl import read_jsonl, write_jsonl
from data_pipeline.quality.junk import generate_junk
from data_pipeline.run import run


@pytest.mark.slow
@pytest.mark.integration
def test_pipeline_on_real_corpus_removes_junk_and_keeps_clean_text(corpus_dir, tmp_path):
    clean = {
        "zh": list(read_jsonl(corpus_dir / "zh_wiki_cmrc2018.jsonl"))[:150]
        + list(read_jsonl(corpus_dir / "zh_wiki_gsdsimp.jsonl"))[:50],
        "en": list(read_jsonl(corpus_dir / "en_novel_botchan.jsonl"))[:150],
    }
    inputs, junk_ids = [], set()
    for lang, records in clean.items():
        # heuristic-detectable junk kinds (word salad is the quality model's job, tested in test_quality_model)
        kinds = ["navigation", "symbol_soup", "repeated_lines", "keyword_spam", "tag_cloud", "seo_template"]
        junk = generate_junk([r["text"] for r in records], lang, 60, seed=5, kinds=kinds)
        junk_ids |= {r["id"] for r in junk}
        path = tmp_path / f"{lang}.jsonl"
        write_jsonl(path, records + junk)
        inputs.append(str(path))
    out = tmp_path / "out"
    cfg = compose_pipeline_config([f"input.paths=[{','.join(inputs)}]", f"output.dir={out}", "executor.workers=2",
                                   "executor.progress=false"])
    stats = run(cfg)
    read = sum(map(len, clean.values())) + 2 * 60
    assert stats["totals"]["docs_read"] == read
    assert stats["totals"]["docs_read"] == stats["totals"]["docs_kept"] + stats["totals"]["docs_rejected"]
    kept_ids = {r["id"] for path in (out / "kept").glob("*.gz") for r in read_jsonl(path)}
    rejected_ids = {r["id"] for path in (out / "rejected").glob("*.gz") for r in read_jsonl(path)}
    assert not kept_ids & rejected_ids and len(kept_ids | rejected_ids) == read  # nothing lost
    for lang, records in clean.items():
        retention = sum(r["id"] in kept_ids for r in records) / len(records)
        assert retention >= 0.97, (lang, retention)
    removal = len(junk_ids - kept_ids) / len(junk_ids)
    assert removal >= 0.95, removal
    assert json.loads((out / "stats.json").read_text()) == stats
