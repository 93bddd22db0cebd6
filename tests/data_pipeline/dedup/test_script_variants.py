"""A page copied into Traditional script is the same page to every dedup stage (issue 27 item 5): the keys are
computed on OpenCC's Simplified spelling, while the kept text is written unchanged."""

from __future__ import annotations

import opencc

from data_pipeline.dedup import ExactDedupStage, MinHashDedupConfig, MinHashDedupStage
from data_pipeline.dedup.hashing import ShingleHasher
from data_pipeline.dedup.text import normalize_for_hash


def _traditional_copies(corpus_records, count):
    to_traditional = opencc.OpenCC("s2t")
    originals = [r for r in corpus_records if r["id"].startswith("cmrc2018/") and len(r["text"]) > 400][:count]
    copies = [{"id": "tw/" + r["id"], "text": to_traditional.convert(r["text"]), "meta": {"quality_score": 0.1}}
              for r in originals]
    assert all(c["text"] != r["text"] for c, r in zip(copies, originals))  # really rewritten
    return [dict(r, meta={"quality_score": 0.9}) for r in originals], copies


def _rejected(out):
    return {r["id"]: r for shard in out for r in shard if "reject_reason" in r}


def test_exact_dedup_finds_a_traditional_copy_and_keeps_texts_unchanged(tmp_path, corpus_records, drive):
    originals, copies = _traditional_copies(corpus_records, 20)
    assert normalize_for_hash("位於臺灣的兩個娛樂") == normalize_for_hash("位于台湾的两个娱乐")
    out = drive(ExactDedupStage(), [originals[:10] + copies[10:], originals[10:] + copies[:10]], tmp_path)
    rejected = _rejected(out)
    assert {rid: r["duplicate_of"] for rid, r in rejected.items()} == {c["id"]: c["id"][3:] for c in copies}
    texts = {r["id"]: r["text"] for shard in out for r in shard}
    assert all(texts[c["id"]] == c["text"] for c in copies)


def test_minhash_signatures_of_both_scripts_are_equal(tmp_path, corpus_records, drive):
    originals, copies = _traditional_copies(corpus_records, 10)
    cfg = MinHashDedupConfig()
    hasher = ShingleHasher(cfg.ngram_zh, cfg.ngram_en, seed=1)
    for original, copy in zip(originals, copies):
        assert (hasher.shingles(original["text"], "zh") == hasher.shingles(copy["text"], "zh")).all()
    batch, ends = hasher.shingles_batch([c["text"] for c in copies], ["zh"] * len(copies))
    assert (batch[: ends[0]] == hasher.shingles(originals[0]["text"], "zh")).all()
    out = drive(MinHashDedupStage(MinHashDedupConfig()), [originals, copies], tmp_path)
    assert set(_rejected(out)) == {c["id"] for c in copies}


def test_a_lone_surrogate_does_not_stop_the_conversion():
    # OpenCC encodes to UTF-8 and raised UnicodeEncodeError on a lone surrogate (a JSON "\ud800" escape).
    assert normalize_for_hash("\ud800臺灣 ABC\udc00於") == "台湾 abc 于"  # surrogates are separators
