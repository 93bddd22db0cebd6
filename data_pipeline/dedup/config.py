"""Configuration schema of the deduplication stages (a Hydra structured config, YAML in conf/pipeline/dedup/)."""

from __future__ import annotations

from dataclasses import dataclass, field

from data_pipeline.errors import UserError


@dataclass
class ExactDedupConfig:
    """Whole-document duplicates: equal after normalisation (NFKC, casefold, punctuation/space collapsed)."""

    enabled: bool = True


@dataclass
class MinHashDedupConfig:
    """Near-duplicate documents by MinHash LSH over language-aware shingles."""

    enabled: bool = True
    ngram_zh: int = 5  # characters per shingle for Chinese (and CJK-majority mixed) text
    ngram_en: int = 5  # words per shingle for English and other space-separated text
    num_perm: int = 128
    threshold: float = 0.8  # Jaccard similarity at and above which two documents are duplicates
    # bands * rows <= num_perm. 0/0 = derive from `threshold` by minimising the weighted false
    # positive + false negative probability mass (the datasketch recipe). With `verify` on, a false positive
    # costs only one Jaccard check while a false negative is a missed duplicate, hence the skew; with
    # verify off use 0.5/0.5. Defaults give 16 x 8: P(candidate | J=0.8) = 0.95, J=0.85: 0.99, J=0.7: 0.61.
    bands: int = 0
    rows: int = 0
    false_positive_weight: float = 0.05
    false_negative_weight: float = 0.95
    # Check every band-collision pair by true Jaccard on the stored shingle sets before merging clusters.
    verify: bool = True


@dataclass
class SentenceDedupConfig:
    """Boilerplate passages that survive document dedup: exact runs of consecutive sentences found in more than
    `max_docs` documents are kept in the best document (quality, length, id) and cut from the others."""

    enabled: bool = True
    span_sentences: int = 3  # consecutive sentences hashed together (datatrove's n_sentences)
    min_span_chars: int = 30  # shorter spans (normalised characters) are never touched
    # A span in more than this many documents is boilerplate. 10: twice the most documents any span of the
    # clean shared corpus (zh Wikipedia fish articles' shared morphology) is found in (docs/dedup.md).
    max_docs: int = 10
    min_keep_fraction: float = 0.5  # drop the document when less than this fraction of its chars remains
    min_keep_chars: int = 20


@dataclass
class DedupConfig:
    exact: ExactDedupConfig = field(default_factory=ExactDedupConfig)
    minhash: MinHashDedupConfig = field(default_factory=MinHashDedupConfig)
    sentence: SentenceDedupConfig = field(default_factory=SentenceDedupConfig)
    seed: int = 1  # permutations and n-gram mixing constants; same seed = same signatures everywhere
    # RAM used when merging one band's sorted key files across shards (the LSH index never has to fit).
    merge_memory_mb: int = 256


def validate_dedup_config(cfg: DedupConfig) -> None:
    """Raise UserError naming the key for any value a user could get wrong."""
    m, s = cfg.minhash, cfg.sentence
    checks = [
        (m.ngram_zh >= 1 and m.ngram_en >= 1, "dedup.minhash.ngram_zh/ngram_en must be >= 1"),
        (m.num_perm >= 2, "dedup.minhash.num_perm must be >= 2"),
        (0.0 < m.threshold < 1.0, "dedup.minhash.threshold must be in (0, 1)"),
        ((m.bands == 0) == (m.rows == 0), "dedup.minhash.bands and rows must both be 0 (derive) or both > 0"),
        (m.bands * m.rows <= m.num_perm, "dedup.minhash.bands * rows must be <= num_perm"),
        (m.bands >= 0 and m.rows >= 0, "dedup.minhash.bands/rows must be >= 0"),
        (s.max_docs >= 1, "dedup.sentence.max_docs must be >= 1"),
        (s.span_sentences >= 1, "dedup.sentence.span_sentences must be >= 1"),
        (s.min_span_chars >= 1, "dedup.sentence.min_span_chars must be >= 1"),
        (0.0 <= s.min_keep_fraction <= 1.0, "dedup.sentence.min_keep_fraction must be in [0, 1]"),
        (cfg.merge_memory_mb >= 1, "dedup.merge_memory_mb must be >= 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message, "fix the value in conf/pipeline/dedup/ or on the command line")
