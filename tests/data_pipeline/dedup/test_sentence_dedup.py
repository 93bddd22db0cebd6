from __future__ import annotations

import json
import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from data_pipeline.dedup import SentenceDedupConfig, SentenceDedupStage
from data_pipeline.dedup.text import normalize_for_hash, sentence_spans
from tests.real_text import corpus_records

FISH = Path(__file__).resolve().parents[2] / "fixtures" / "dedup" / "zh_wiki_fish.jsonl"
FOOTER_ZH = "\n本文来源于网络，版权归原作者所有。如有侵权，请联系我们删除。转载请注明出处并保留本声明。"
FOOTER_EN = ("\nThis article first appeared on our partner site. All rights reserved by the original authors. "
             "Subscribe to our weekly newsletter for more stories like this one.")


def fish_articles() -> list[dict]:
    return [json.loads(line) for line in FISH.read_text(encoding="utf-8").splitlines()]


def outcome(out: list[list[dict]]) -> dict:
    """What a run decided per id: text, reject reason, audit and duplicate_of."""
    return {r["id"]: (r["text"], r.get("reject_reason"), r.get("duplicate_of"), r.get("meta", {}).get("sentence_dedup"))
            for shard in out for r in shard}


def test_sentence_spans_tile_the_text():
    text = "第一句。第二句！Third one. Fourth?\nFifth"
    spans = sentence_spans(text)
    assert "".join(text[s:e] for s, e in spans) == text
    assert [text[s:e].strip() for s, e in spans] == ["第一句。", "第二句！", "Third one.", "Fourth?", "Fifth"]


def test_species_articles_keep_their_names_and_fin_ray_counts(tmp_path, drive):
    """Sibling fish species share exact morphology sentences (up to 5 of these articles share a 3-sentence run)
    but differ in name and fin-ray counts. With the defaults nothing here is boilerplate; even when every
    repeat is cut (max_docs=1) no naming sentence or differing count goes, and every cut piece is inside the
    kept text of the article named in its duplicate_of."""
    docs = fish_articles()
    original = {d["id"]: d["text"] for d in docs}
    kept = outcome(drive(SentenceDedupStage(SentenceDedupConfig()), [docs[::2], docs[1::2]], tmp_path / "default"))
    assert {rid: text for rid, (text, *_rest) in kept.items()} == original

    cut = outcome(drive(SentenceDedupStage(SentenceDedupConfig(max_docs=1)), [docs[::2], docs[1::2]],
                        tmp_path / "max1"))
    assert cut["cmrc2018/dev/DEV_1561"][0].startswith("黄天竺鲷，又名环天竺鲷、环尾天竺鲷")
    changed = {rid for rid, (text, reason, *_rest) in cut.items() if text != original[rid] or reason}
    assert len(changed) >= 8  # real repeats were cut
    for rid, text in original.items():
        first = text[: sentence_spans(text)[0][1]]
        assert cut[rid][0].startswith(first), rid  # the sentence naming the species stays
    counts = [(rid, text[s:e]) for rid, text in original.items() for s, e in sentence_spans(text) if "硬棘" in text[s:e]]
    for rid, sentence in counts:
        if sum(sentence in text for text in original.values()) == 1:  # a count no other article states
            assert sentence in cut[rid][0], (rid, sentence)
    for rid, (*_, audit) in cut.items():
        for piece in (audit or {}).get("removed", []):
            keeper_text, keeper_reason, *_ = cut[piece["duplicate_of"]]
            assert keeper_reason is None and piece["duplicate_of"] != rid
            assert normalize_for_hash(piece["text"]) in normalize_for_hash(keeper_text)


def test_boilerplate_stays_only_in_the_best_copy(tmp_path, drive):
    """A 3-sentence footer in more than max_docs (10) documents stays in the one document dedup would keep
    (highest quality_score) and is cut from the others, its text and duplicate_of in meta. A document that
    would keep too little is rejected and keeps nothing for others. A footer in 10 documents stays everywhere."""
    records = corpus_records()
    zh = [r for r in records if r["id"].startswith("cmrc2018/") and len(r["text"]) > 300][:12]
    en = [r for r in records if r["id"].startswith("botchan/") and len(r["text"]) > 600][:20]
    docs = [{"id": f"zh{i:02d}", "text": r["text"] + FOOTER_ZH, "meta": {"quality_score": i / 20}}
            for i, r in enumerate(zh)]
    docs += [{"id": f"en{i:02d}", "text": r["text"] + FOOTER_EN, "meta": {"quality_score": 0.6 + i / 100}}
             for i, r in enumerate(en[:10])]
    docs += [{"id": f"ten{i:02d}", "text": r["text"] + FOOTER_ZH.replace("本文", "此文")} for i, r in enumerate(en[10:])]
    # better than every zh copy, worse than every en copy: loses the en footer, is rejected, so keeps no footer
    docs.append({"id": "mostly_footers", "text": FOOTER_EN.strip() + FOOTER_ZH, "meta": {"quality_score": 0.58}})
    random.Random(0).shuffle(docs)
    stage = SentenceDedupStage(SentenceDedupConfig())
    result = outcome(drive(stage, [docs[::3], docs[1::3], docs[2::3]], tmp_path))
    footer_zh, footer_en = FOOTER_ZH.strip(), FOOTER_EN.strip()
    text, reason, duplicate_of, audit = result["mostly_footers"]
    assert (reason, duplicate_of) == ("sentence_dedup:too_little_left", "en09")
    assert text == FOOTER_EN.strip() + FOOTER_ZH  # a rejected record keeps its text
    assert [(p["text"].strip(), p["duplicate_of"]) for p in audit["removed"]] == [(footer_en, "en09")]
    for keeper, footer, copies in (("zh11", footer_zh, zh[:11]), ("en09", footer_en, en[:9])):
        assert footer in result[keeper][0] and result[keeper][3] is None
        for i, original in enumerate(copies):
            text, reason, _, audit = result[f"{keeper[:2]}{i:02d}"]
            assert reason is None and footer not in text and text.rstrip() == original["text"].rstrip()
            assert [(p["text"].strip(), p["duplicate_of"]) for p in audit["removed"]] == [(footer, keeper)]
            assert audit["removed_chars"] == len(footer)
    assert all(result[f"ten{i:02d}"][0] == docs_text for i, docs_text in
               enumerate(r["text"] + FOOTER_ZH.replace("本文", "此文") for r in en[10:]))
    assert stage.summary == {"candidate_spans": stage.summary["candidate_spans"], "boilerplate_spans": 2,
                             "docs_cut": 20, "docs_rejected": 1, "removed_chars": 11 * len(footer_zh) + 9 * len(footer_en)}


def test_result_does_not_depend_on_input_order_or_shards(tmp_path, drive):
    """Real text plus boilerplate, every exact repeat cut (max_docs=1): file order in one shard, reversed in
    three, shuffled in four give the same text, reason and audit for every id."""
    docs = corpus_records() + fish_articles()
    docs = list({d["id"]: d for d in docs}.values())
    docs += [dict(d, id=d["id"] + "#footer", text=d["text"] + FOOTER_ZH) for d in docs[:40:3]]
    shuffled = docs[:]
    random.Random(1).shuffle(shuffled)
    layouts = {"one": [docs], "reversed": [docs[::-1][i::3] for i in range(3)],
               "shuffled": [shuffled[i::4] for i in range(4)]}
    results = {name: outcome(drive(SentenceDedupStage(SentenceDedupConfig(max_docs=1)), shards, tmp_path / name))
               for name, shards in layouts.items()}
    assert results["one"] == results["reversed"] == results["shuffled"]
    assert sum(audit is not None for *_rest, audit in results["one"].values()) >= 20


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab 。！？；.?!\n\"”中文")), max_size=60))
def test_sentence_spans_always_tile_any_text(text):
    spans = sentence_spans(text)
    assert "".join(text[s:e] for s, e in spans) == text
    assert all(e > s for s, e in spans)
