"""MinHash LSH on real zh/en text with generated near-duplicates, scored against exact all-pairs Jaccard."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from data_pipeline.dedup import MinHashDedupConfig
from data_pipeline.dedup import evaluate as dedup_eval
from data_pipeline.dedup.hashing import MinHasher, ShingleHasher, jaccard
from data_pipeline.dedup.lsh_params import optimal_bands_rows
from data_pipeline.dedup.near_duplicates import with_near_duplicates
from data_pipeline.dedup.precision_recall import evaluate_minhash, pairwise_jaccard


def _sample(records: list[dict], prefix: str, count: int, seed: int) -> list[dict]:
    pool = [r for r in records if r["id"].startswith(prefix) and len(r["text"]) > 300]
    return random.Random(seed).sample(pool, min(count, len(pool)))


def test_minhash_agreement_estimates_jaccard(corpus_records):
    """Fraction of equal signature values is an unbiased estimate of Jaccard: mean error near 0."""
    shingler, minhasher = ShingleHasher(5, 5, seed=3), MinHasher(256, seed=3)
    docs = _sample(corpus_records, "cmrc2018/", 20, 0) + _sample(corpus_records, "botchan/", 20, 0)
    rng = random.Random(1)
    errors = []
    for doc in docs:
        variant = with_near_duplicates([doc], 1, seed=rng.randrange(1 << 30))
        a, b = (shingler.shingles(r["text"]) for r in variant)
        estimate = float(np.mean(minhasher.signature(a) == minhasher.signature(b)))
        errors.append(estimate - jaccard(a, b))
    assert abs(np.mean(errors)) < 0.02
    assert np.std(errors) < 0.06  # binomial sd at 256 permutations is <= 0.031


def test_optimal_bands_rows_matches_datasketch_choice():
    assert optimal_bands_rows(0.8, 128) == (9, 13)  # datasketch MinHashLSH(threshold=0.8, num_perm=128)
    assert optimal_bands_rows(0.5, 128) == (25, 5)


def test_pairwise_jaccard_equals_brute_force():
    rng = np.random.default_rng(0)
    sets = [np.unique(rng.integers(0, 60, size=rng.integers(0, 30)).astype(np.uint64)) for _ in range(25)]
    fast = pairwise_jaccard(sets)
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            expected = jaccard(sets[i], sets[j]) if len(sets[i]) and len(sets[j]) else 0.0
            assert fast.get((i, j), 0.0) == pytest.approx(expected)


@pytest.mark.slow
def test_recall_and_precision_per_language_on_real_text(corpus_records):
    base = _sample(corpus_records, "cmrc2018/", 150, 0) + _sample(corpus_records, "botchan/", 75, 0) \
        + _sample(corpus_records, "ewt/", 75, 0)
    records = with_near_duplicates(base, 3, seed=0)
    report = evaluate_minhash(records, MinHashDedupConfig())
    assert set(report) == {"zh", "en"}
    for lang, scores in report.items():
        assert scores["true_pairs"] > 100, lang  # the generated sample really holds duplicates
        assert scores["verified"]["recall"] >= 0.95, (lang, scores)
        assert scores["verified"]["precision"] >= 0.98, (lang, scores)
        assert scores["removals"]["recall"] >= 0.95, (lang, scores)
        assert scores["removals"]["precision"] >= 0.98, (lang, scores)
        # LSH alone proposes more than it keeps: verification is doing work
        assert scores["candidates"]["predicted_pairs"] > scores["verified"]["predicted_pairs"]


def test_dedup_eval_cli_writes_report_and_rejects_bad_input(tmp_path, corpus_records, capsys):
    path = tmp_path / "sample.jsonl"
    sample = _sample(corpus_records, "cmrc2018/", 20, 1) + _sample(corpus_records, "botchan/", 20, 1)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in sample), encoding="utf-8")
    out = tmp_path / "report.json"
    assert dedup_eval.main([f"input=[{path}]", "near_duplicates=2", f"output={out}"]) == 0
    report = json.loads(out.read_text())
    assert report["zh"]["docs"] == 60 and report["en"]["docs"] == 60
    assert "removals" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        dedup_eval.main([f"input=[{tmp_path / 'missing.jsonl'}]"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: ")
