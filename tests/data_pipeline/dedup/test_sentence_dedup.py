from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from data_pipeline.dedup import SentenceDedupConfig, SentenceDedupStage
from data_pipeline.dedup.text import sentence_spans

BOILER_EN = ("\nSubscribe to our weekly newsletter to receive the latest news, reviews and special offers "
             "from our editors and partners around the world, delivered straight to your inbox.")
BOILER_EN_NEAR = BOILER_EN.replace("inbox.", "mailbox!")  # one word of 25 differs: Jaccard 0.92
BOILER_ZH = "本文来源于网络，版权归原作者所有，如有侵权请联系删除。"


def test_sentence_spans_tile_the_text():
    text = "第一句。第二句！Third one. Fourth?\nFifth"
    spans = sentence_spans(text)
    assert "".join(text[s:e] for s, e in spans) == text
    assert [text[s:e].strip() for s, e in spans] == ["第一句。", "第二句！", "Third one.", "Fourth?", "Fifth"]


def test_boilerplate_removed_from_all_but_first_document(tmp_path, corpus_records, drive):
    rng = random.Random(0)
    en = [r for r in corpus_records if r["id"].startswith("botchan/") and len(r["text"]) > 600][:40]
    zh = [r for r in corpus_records if r["id"].startswith("cmrc2018/") and len(r["text"]) > 300][:40]
    docs = []
    for i, r in enumerate(en):  # exact boilerplate in even docs, a near-exact variant in odd ones
        docs.append({"id": f"en{i:03d}", "text": r["text"] + (BOILER_EN if i % 2 == 0 else BOILER_EN_NEAR)})
    for i, r in enumerate(zh):
        docs.append({"id": f"zh{i:03d}", "text": BOILER_ZH + r["text"], "meta": {"lang": "zh"}})
    docs.append({"id": "mostly_boiler", "text": BOILER_ZH + "短。"})
    rng.shuffle(docs)
    shards = [docs[::2], docs[1::2]]
    stage = SentenceDedupStage(SentenceDedupConfig(max_docs=2))
    out = drive(stage, shards, tmp_path)
    records = {r["id"]: r for shard in out for r in shard}
    assert len(records) == len(docs)

    order = [r["id"] for shard in shards for r in shard]  # global (shard, row) order decides "first"
    first_en = min((i for i, rid in enumerate(order) if rid.startswith("en")))
    first_zh = min((i for i, rid in enumerate(order) if rid.startswith("zh") or rid == "mostly_boiler"))
    for position, rid in enumerate(order):
        record, original = records[rid], next(d for d in docs if d["id"] == rid)
        keeps_boiler = position in (first_en, first_zh)
        if rid == "mostly_boiler" and not keeps_boiler:
            assert record["reject_reason"] == "sentence_dedup:too_little_left"
            assert record["text"] == original["text"]  # rejected text is left untouched
            continue
        assert "reject_reason" not in record
        has_boiler = any(b.strip() in record["text"] for b in (BOILER_EN, BOILER_EN_NEAR, BOILER_ZH))
        assert has_boiler == keeps_boiler, rid
        if not keeps_boiler:
            boiler = next(b for b in (BOILER_EN, BOILER_EN_NEAR, BOILER_ZH) if b in original["text"])
            assert record["text"] == original["text"].replace(boiler, "", 1).rstrip() or \
                record["text"].strip() == original["text"].replace(boiler, "").strip()
            assert record["meta"]["sentence_dedup"]["removed_sentences"] == 1
    assert stage.summary["removed_sentences"] == len(docs) - 2
    assert stage.summary["removed_chars"] > 0


def test_exact_mode_keeps_sentences_below_max_docs(tmp_path, drive):
    repeated = "This exact sentence shows up in a few documents."
    docs = [{"id": f"d{i}", "text": f"Document number {i} has its own opening line, and a long one, "
             f"long enough to stay. {repeated}"} for i in range(3)]
    out = drive(SentenceDedupStage(SentenceDedupConfig(max_docs=3, near_duplicates=False)), [docs], tmp_path)
    assert [r["text"] for r in out[0]] == [d["text"] for d in docs]
    out = drive(SentenceDedupStage(SentenceDedupConfig(max_docs=2, near_duplicates=False)), [docs],
                tmp_path / "again")
    assert [repeated in r["text"] for r in out[0]] == [True, False, False]
    assert not any("reject_reason" in r for r in out[0])


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab 。！？；.?!\n\"”中文")), max_size=60))
def test_sentence_spans_always_tile_any_text(text):
    spans = sentence_spans(text)
    assert "".join(text[s:e] for s, e in spans) == text
    assert all(e > s for s, e in spans)
