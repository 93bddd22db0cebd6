from __future__ import annotations

import pytest

from data_pipeline.dedup import DedupConfig, ExactDedupStage, build_dedup_stages
from data_pipeline.dedup.text import normalize_for_hash
from data_pipeline.errors import UserError


def _rejected(out):
    return {r["id"]: r for shard in out for r in shard if "reject_reason" in r}


def test_exact_copies_across_shards_removed_and_every_record_yielded(tmp_path, corpus_records, drive):
    # Copies differ in case, spacing and punctuation only, and score lower, so the originals are kept.
    # (The corpus itself holds a few exact repeats; keep one of each so the expectation is exact.)
    unique = {normalize_for_hash(r["text"]): r for r in corpus_records[:320]}
    originals = [dict(r, meta={"quality_score": 0.6}) for r in list(unique.values())[:300]]
    copies = [{"id": f"copy/{r['id']}", "text": "  " + r["text"].upper() + " !", "meta": {"quality_score": 0.5}}
              for r in originals[:100]]
    shards = [originals[:150] + copies[50:], originals[150:] + copies[:50]]
    out = drive(ExactDedupStage(), shards, tmp_path)
    assert [len(s) for s in out] == [len(s) for s in shards]
    rejected = _rejected(out)
    assert set(rejected) == {c["id"] for c in copies}
    for copy_id, record in rejected.items():
        assert record["reject_reason"] == "exact_dedup:duplicate"
        assert record["duplicate_of"] == copy_id.removeprefix("copy/")


def test_cluster_keeps_highest_quality_then_longer_then_smaller_id(tmp_path, drive):
    text = "同一段文字，完全相同。"
    records = [
        {"id": "a", "text": text, "meta": {"quality_score": 0.2}},
        {"id": "b", "text": text + "  ", "meta": {"quality_score": 0.9}},
        {"id": "c", "text": text, "meta": {"quality_score": 0.9}},
        {"id": "d", "text": text},  # no score ranks below every scored record
        {"id": "e", "text": "other"},
        {"id": "f", "text": "OTHER"},
    ]
    out = drive(ExactDedupStage(), [records[:3], records[3:]], tmp_path)
    rejected = {rid: r["duplicate_of"] for rid, r in _rejected(out).items()}
    assert rejected == {"a": "b", "c": "b", "d": "b", "f": "e"}


def test_build_dedup_stages_respects_switches():
    cfg = DedupConfig()
    cfg.minhash.enabled = False
    cfg.sentence.enabled = False
    assert [s.name for s in build_dedup_stages(cfg)] == ["exact_dedup"]


def test_bad_dedup_config_is_a_user_error_naming_the_key():
    cfg = DedupConfig()
    cfg.minhash.bands, cfg.minhash.rows = 20, 8  # 160 > num_perm 128
    with pytest.raises(UserError, match="dedup.minhash.bands"):
        build_dedup_stages(cfg)
    cfg = DedupConfig()
    cfg.sentence.span_sentences = 0
    with pytest.raises(UserError, match="dedup.sentence.span_sentences"):
        build_dedup_stages(cfg)
