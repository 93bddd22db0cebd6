"""The batched shingling and MinHash paths must give bit-identical results to the per-document ones, so the
kept ids do not depend on how observe() happens to batch records."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_pipeline.dedup import MinHashDedupConfig, hashing
from data_pipeline.dedup import cluster_stage as cluster_stage_module
from data_pipeline.dedup.batch_tokens import CJK, WORD, codepoint_classes, tokenize_batch
from data_pipeline.dedup.hashing import MinHasher, ShingleHasher
from data_pipeline.dedup.minhash import MinHashDedupStage
from data_pipeline.dedup.text import CJK_CODEPOINT_RANGES, shingle_tokens

# Texts that stress the edges: empty, punctuation only, one token (shorter than n), a token longer than the
# 64 vectorised characters (xxh3 fallback for that document), underscores, compatibility forms that NFKC
# and casefold change, a lone surrogate (from JSON), kana + Hangul + Latin mixed, digits glued to CJK.
EDGE_TEXTS = [
    "", "  ,, !! ", "word", "中", "a b", "x" * 70 + " and then some ordinary words after it",
    "snake_case and_more __init__", "ﬁne ＡＢＣ 𝒜𝒷 Straße İstanbul ǅ", "\ud800abc def ghi",
    "日本語のテキストとEnglish words mixed 한국어 문장", "第3章2024年GPT-4发布", "ends with a word",
    "starts a word",
]


def _texts(corpus_records: list[dict]) -> list[str]:
    zh = [r["text"] for r in corpus_records if r["id"].startswith("cmrc2018/")][:150]
    en = [r["text"] for r in corpus_records if not r["id"].startswith("cmrc2018/")][:150]
    assert zh and en
    very_long = " ".join(zh[:40] + en[:40])  # one document spread over many signature blocks
    return zh + EDGE_TEXTS + en + [very_long, ""]


def test_codepoint_classes_match_the_token_regex_on_every_codepoint():
    every = "".join(map(chr, range(0x110000)))
    words = re.sub(r"[\W_]", "\0", every).encode("utf-32-le", "surrogatepass")
    expected = np.where(np.frombuffer(words, dtype=np.uint32) != 0, WORD, 0).astype(np.uint8)
    for lo, hi in CJK_CODEPOINT_RANGES:
        expected[lo : hi + 1] = CJK
    assert np.array_equal(codepoint_classes(), expected)


def test_tokenize_batch_finds_the_regex_tokens(corpus_records):
    texts = _texts(corpus_records)
    batch = tokenize_batch(texts)
    starts = batch.doc_token_ends - batch.token_counts()
    for doc, text in enumerate(texts):
        got = [batch.token_text(doc, t) for t in range(int(starts[doc]), int(batch.doc_token_ends[doc]))]
        assert got == shingle_tokens(text), text[:40]


@pytest.mark.parametrize("ngram_zh, ngram_en", [(5, 5), (3, 4)])
def test_batch_shingles_equal_per_document_shingles(corpus_records, ngram_zh, ngram_en):
    texts = _texts(corpus_records)
    langs = [None, "zh", "en", "mixed"] * (len(texts) // 4) + [None] * (len(texts) % 4)
    hasher = ShingleHasher(ngram_zh, ngram_en, seed=7)
    hashes, ends = hasher.shingles_batch(texts, langs)
    assert len(ends) == len(texts)
    for doc, piece in enumerate(np.split(hashes, ends[:-1])):
        assert np.array_equal(piece, hasher.shingles(texts[doc], langs[doc])), texts[doc][:40]
    assert (np.diff(ends, prepend=0) == 0).sum() >= 3  # the empty texts really were empty


# Letters, digits, underscore, separators, CJK + fullwidth forms, combining marks, case-folding specials,
# kana/Hangul, a lone surrogate, astral letters and emoji, Arabic-Indic digits.
_ALPHABET = list("abcXYZ019_ ,.!?\n\t-中文字符测试ｆｕｌｌ，。éü\u0301\u0308ßİǅﬁひらカタ한국\ud800𝒜😀٠١")
_TEXTS = st.lists(st.one_of(st.text(alphabet=_ALPHABET, max_size=120),
                            st.builds(lambda a, b: a + "q" * b, st.text(alphabet=_ALPHABET, max_size=20),
                                      st.integers(60, 70))),
                  min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(texts=_TEXTS, langs=st.lists(st.sampled_from([None, "zh", "en", "mixed"]), min_size=8, max_size=8))
def test_batch_path_equals_per_document_path_on_generated_text(texts, langs):
    hasher, minhasher = ShingleHasher(5, 3, seed=2), MinHasher(32, seed=2)
    hashes, ends = hasher.shingles_batch(texts, langs[: len(texts)])
    expected = [hasher.shingles(text, lang) for text, lang in zip(texts, langs)]
    assert all(np.array_equal(a, b) for a, b in zip(np.split(hashes, ends[:-1]), expected))
    assert np.array_equal(minhasher.signatures(hashes, ends), np.stack([minhasher.signature(e) for e in expected]))


@pytest.mark.parametrize("block_elements", [1 << 20, 64 * 100, 64])  # default; docs across blocks; 1 per block
def test_batch_signatures_equal_per_document_signatures(corpus_records, monkeypatch, block_elements):
    monkeypatch.setattr(hashing, "_MAX_MATRIX_ELEMENTS", block_elements)
    texts = _texts(corpus_records)[:60] + EDGE_TEXTS
    shingles = [ShingleHasher(5, 5, seed=1).shingles(t) for t in texts]
    minhasher = MinHasher(64, seed=1)
    ends = np.cumsum([len(s) for s in shingles])
    batch = minhasher.signatures(np.concatenate(shingles), ends)
    expected = np.stack([minhasher.signature(s) for s in shingles])
    assert np.array_equal(batch, expected)
    assert (batch[[len(s) == 0 for s in shingles]] == np.iinfo(np.uint64).max).all()


def test_observe_batching_does_not_change_the_index(corpus_records, tmp_path, monkeypatch, drive):
    """Same band files, shingle store and kept ids whatever the observe batch size."""
    records = corpus_records[:200] + [{"id": f"edge-{i}", "text": t} for i, t in enumerate(EDGE_TEXTS)]
    records += [dict(r, id=r["id"] + "-copy") for r in corpus_records[:30]]
    outputs = {}
    for batch_docs in (512, 7, 1):
        monkeypatch.setattr(cluster_stage_module, "OBSERVE_BATCH_DOCS", batch_docs)
        stage = MinHashDedupStage(MinHashDedupConfig(bands=16, rows=8, num_perm=128))
        out = drive(stage, [records[:120], records[120:]], tmp_path / str(batch_docs))
        files = sorted(p for p in (tmp_path / str(batch_docs)).rglob("*") if p.suffix in (".npy", ".bin"))
        outputs[batch_docs] = ([(p.name, p.read_bytes()) for p in files],
                               [(r["id"], r.get("duplicate_of")) for shard in out for r in shard])
    assert outputs[512] == outputs[7] == outputs[1]
    assert sum(kept is not None for _, kept in outputs[1][1]) >= 30  # the copies really were removed
