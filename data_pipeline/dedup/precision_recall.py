"""Precision and recall of MinHash dedup against exact Jaccard over all pairs of a sample, per language.

A pair is a true duplicate when the exact Jaccard similarity of the two shingle sets is >= threshold. Three
predictions are scored against that truth:
  candidates  pairs that share at least one LSH band key (what LSH alone proposes)
  verified    candidates whose true Jaccard passes (what verification keeps)
  clusters    pairs the real MinHashDedupStage puts in one cluster (observe/fit/run on the sample; chains
              of near-duplicates can join pairs below threshold, which is what precision measures here)
  removals    what a user of the output cares about: precision = removed records whose Jaccard with the
              record kept in their place (`duplicate_of`) passes; recall = true pairs of which at least
              one side was removed (no true duplicate pair survives)
Exact Jaccard of every pair comes from an inverted index (shingle -> documents), so only pairs that share a
shingle cost anything.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from data_pipeline.dedup.config import MinHashDedupConfig
from data_pipeline.dedup.minhash import MinHashDedupStage
from data_pipeline.dedup.text import shingle_language, shingle_tokens
from data_pipeline.stage import ShardInfo


@dataclass
class PairScore:
    true_pairs: int
    predicted_pairs: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.true_pairs if self.true_pairs else 1.0

    def to_dict(self) -> dict:
        return {**asdict(self), "precision": round(self.precision, 4), "recall": round(self.recall, 4)}


def pairwise_jaccard(shingle_sets: list[np.ndarray]) -> dict[tuple[int, int], float]:
    """Exact Jaccard of every pair (i < j) sharing at least one shingle."""
    sizes = np.array([len(s) for s in shingle_sets], dtype=np.int64)
    shingles = np.concatenate(shingle_sets) if shingle_sets else np.empty(0, dtype=np.uint64)
    docs = np.repeat(np.arange(len(shingle_sets), dtype=np.int64), sizes)
    order = np.argsort(shingles, kind="stable")
    shingles, docs = shingles[order], docs[order]
    starts = np.flatnonzero(np.r_[True, shingles[1:] != shingles[:-1]])
    ends = np.r_[starts[1:], len(shingles)]
    n = len(shingle_sets)
    codes = []
    for start, end in zip(starts[ends - starts > 1], ends[ends - starts > 1]):
        members = docs[start:end]
        i, j = np.triu_indices(len(members), k=1)
        codes.append(members[i] * n + members[j])
    if not codes:
        return {}
    pair_codes, intersections = np.unique(np.concatenate(codes), return_counts=True)
    first, second = pair_codes // n, pair_codes % n
    union = sizes[first] + sizes[second] - intersections
    return {(int(a), int(b)): float(x / u) for a, b, x, u in zip(first, second, intersections, union)}


def candidate_pairs(band_keys: list[np.ndarray | None]) -> set[tuple[int, int]]:
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    for doc, keys in enumerate(band_keys):
        if keys is not None:
            for band, key in enumerate(keys.tolist()):
                buckets[(band, key)].append(doc)
    return {(a, b) for members in buckets.values() for i, a in enumerate(members) for b in members[i + 1:]}


def run_stage(stage: MinHashDedupStage, records: list[dict], index: dict[str, int]) -> dict[int, int]:
    """{removed row: kept row} from the real stage (observe, fit, run) on the sample as one shard."""
    shard = ShardInfo(0, 1, "sample")
    with tempfile.TemporaryDirectory(prefix="dedup_eval_") as workdir:
        stage.observe(iter([dict(r) for r in records]), shard, Path(workdir))
        stage.fit(Path(workdir), 1)
        return {index[r["id"]]: index[r["duplicate_of"]]
                for r in stage.run(iter([dict(r) for r in records]), shard) if "duplicate_of" in r}


def cluster_pairs(removed_to_kept: dict[int, int]) -> set[tuple[int, int]]:
    clusters: dict[int, list[int]] = defaultdict(list)
    for removed, kept in removed_to_kept.items():
        clusters[kept].append(removed)
    pairs = set()
    for kept, removed in clusters.items():
        members = sorted([kept, *removed])
        pairs.update((a, b) for i, a in enumerate(members) for b in members[i + 1:])
    return pairs


def evaluate_minhash(records: list[dict], cfg: MinHashDedupConfig, seed: int = 1) -> dict[str, dict]:
    """{lang: {"docs", "candidates", "verified", "clusters"}} for the records' own zh / en split."""
    stage = MinHashDedupStage(cfg, seed=seed)
    index = {r["id"]: i for i, r in enumerate(records)}
    if len(index) != len(records):
        raise ValueError("record ids must be unique to evaluate dedup")
    shingle_sets = [stage.doc_shingles(r) for r in records]
    langs = [shingle_language(shingle_tokens(r["text"]), (r.get("meta") or {}).get("lang")) for r in records]
    jaccard = pairwise_jaccard(shingle_sets)
    truth = {pair for pair, similarity in jaccard.items() if similarity >= cfg.threshold}
    candidates = candidate_pairs([stage.doc_band_keys(s) for s in shingle_sets])
    verified = {pair for pair in candidates if jaccard.get(pair, 0.0) >= cfg.threshold}
    removed_to_kept = run_stage(stage, records, index)
    clustered = cluster_pairs(removed_to_kept)
    report: dict[str, dict] = {}
    for lang in sorted(set(langs)):
        def mine(pairs: set, lang: str = lang) -> set:
            return {(a, b) for a, b in pairs if langs[a] == lang and langs[b] == lang}

        lang_truth = mine(truth)
        report[lang] = {"docs": langs.count(lang), "true_pairs": len(lang_truth)}
        for level, predicted in (("candidates", candidates), ("verified", verified), ("clusters", clustered)):
            lang_predicted = mine(predicted)
            report[lang][level] = PairScore(len(lang_truth), len(lang_predicted),
                                            len(lang_predicted & lang_truth)).to_dict()
        removed = {row: kept for row, kept in removed_to_kept.items() if langs[row] == lang}
        correct = sum(jaccard.get((min(r, k), max(r, k)), 0.0) >= cfg.threshold for r, k in removed.items())
        resolved = sum(a in removed_to_kept or b in removed_to_kept for a, b in lang_truth)
        report[lang]["removals"] = {
            "removed": len(removed),
            "precision": round(correct / len(removed), 4) if removed else 1.0,
            "recall": round(resolved / len(lang_truth), 4) if lang_truth else 1.0,
        }
    return report
