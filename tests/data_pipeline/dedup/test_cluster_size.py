"""Kept representatives record how many original documents they stand for (meta.dup_cluster_size): the
mixture's rehydration weight (issue 24 item 4)."""

from __future__ import annotations

from data_pipeline.dedup import ExactDedupStage


def _kept_sizes(out: list[list[dict]]) -> dict[str, int]:
    return {r["id"]: r["meta"]["dup_cluster_size"] for shard in out for r in shard if "reject_reason" not in r}


def test_kept_representative_records_its_cluster_size_and_unique_documents_record_one(tmp_path, drive):
    a, b = "第一段文字，三份拷贝。", "Second text, two copies."
    shards = [
        [{"id": "a1", "text": a, "meta": {"quality_score": 0.9}}, {"id": "b1", "text": b}, {"id": "u1", "text": "x"}],
        [{"id": "a2", "text": a}, {"id": "a3", "text": a + " "}, {"id": "b2", "text": b.upper()},
         {"id": "u2", "text": "y"}],
    ]
    out = drive(ExactDedupStage(), shards, tmp_path)
    assert _kept_sizes(out) == {"a1": 3, "b1": 2, "u1": 1, "u2": 1}
    rejected = [r for shard in out for r in shard if "reject_reason" in r]
    assert all("dup_cluster_size" not in r.get("meta", {}) for r in rejected)


def test_cluster_sizes_of_an_earlier_dedup_stage_add_up(tmp_path, drive):
    # What exact dedup kept (sizes 3 and 2) are near-copies for a later stage: the survivor stands for 5 originals.
    shards = [[{"id": "k1", "text": "same text", "meta": {"dup_cluster_size": 3, "quality_score": 0.1}}],
              [{"id": "k2", "text": "SAME text", "meta": {"dup_cluster_size": 2, "quality_score": 0.8}},
               {"id": "k3", "text": "alone", "meta": {"dup_cluster_size": 4}}]]
    out = drive(ExactDedupStage(name="second_dedup"), shards, tmp_path)
    assert _kept_sizes(out) == {"k2": 5, "k3": 4}
