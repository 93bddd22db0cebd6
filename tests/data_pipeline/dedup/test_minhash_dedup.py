from __future__ import annotations

import random

from data_pipeline.dedup import MinHashDedupConfig, MinHashDedupStage
from data_pipeline.dedup.near_duplicates import near_duplicate
from data_pipeline.dedup.text import shingle_language, shingle_tokens


def _base(corpus_records, prefix, count):
    return [r for r in corpus_records if r["id"].startswith(prefix) and len(r["text"]) > 400][:count]


def _removed(out):
    return {r["id"]: r["duplicate_of"] for shard in out for r in shard if "reject_reason" in r}


def test_near_duplicates_across_shards_keep_highest_quality(tmp_path, corpus_records, drive):
    rng = random.Random(0)
    docs, expected = [], {}
    for r in _base(corpus_records, "cmrc2018/", 30) + _base(corpus_records, "botchan/", 30):
        original = {"id": r["id"], "text": r["text"], "meta": {"quality_score": 0.5}}
        better = {"id": r["id"] + "~hq", "text": near_duplicate(r["text"], 0.01, False, rng),
                  "meta": {"quality_score": 0.9}}
        docs += [original, better]
        expected[original["id"]] = better["id"]
    rng.shuffle(docs)
    out = drive(MinHashDedupStage(MinHashDedupConfig()), [docs[0::3], docs[1::3], docs[2::3]], tmp_path)
    assert sum(len(s) for s in out) == len(docs)
    removed = _removed(out)
    assert removed == expected
    assert all(r["reject_reason"] == "minhash_dedup:duplicate" for s in out for r in s if "reject_reason" in r)


def test_bounded_merge_chunks_give_the_same_clusters(tmp_path, corpus_records, drive):
    rng = random.Random(1)
    docs = [dict(r) for r in _base(corpus_records, "cmrc2018/", 60)]
    docs += [{"id": d["id"] + "~v", "text": near_duplicate(d["text"], 0.005, True, rng)} for d in docs[:30]]
    shards = [docs[0::2], docs[1::2]]
    one_chunk = _removed(drive(MinHashDedupStage(MinHashDedupConfig()), shards, tmp_path / "a"))
    # 1 MiB budget < 2 * rows * 12 bytes would not split here, so force many key ranges with a tiny budget
    stage = MinHashDedupStage(MinHashDedupConfig())
    stage.merge_memory_bytes = 64
    many_chunks = _removed(drive(stage, shards, tmp_path / "b"))
    assert len(one_chunk) >= 28 and one_chunk == many_chunks


def test_unverified_mode_and_empty_documents(tmp_path, drive):
    docs = [{"id": "a", "text": ""}, {"id": "b", "text": "   "}, {"id": "c", "text": "the same few words here"},
            {"id": "d", "text": "The same few words here!"}]
    out = drive(MinHashDedupStage(MinHashDedupConfig(verify=False)), [docs], tmp_path)
    assert _removed(out) == {"c": "d"}  # the longer text stays; empty texts have no shingles: never near-duplicates of anything


def test_mixed_documents_shingle_by_their_majority_script():
    zh_with_en = "我们今天在北京开会讨论了 machine learning 的最新进展和应用。"
    en_with_zh = "We met in Beijing (北京) to discuss the latest progress of machine learning."
    assert shingle_language(shingle_tokens(zh_with_en), "mixed") == "zh"
    assert shingle_language(shingle_tokens(en_with_zh), None) == "en"
    assert shingle_language(shingle_tokens(en_with_zh), "zh") == "zh"  # a zh/en label is trusted
