"""Hashed n-gram features: character 1-3-grams for Chinese, word 1-2-grams (plus in-word character trigrams,
which see mojibake and misspellings) for English; log-scaled counts, L2-normalised, hashed into 2^bits slots."""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass

import numpy as np

_EN_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[^\w\s]")
_ZH_TEXT = re.compile(r"\s+")


@dataclass(frozen=True)
class FeatureSpec:
    bits: int = 18
    zh_char_ngrams: tuple[int, ...] = (1, 2, 3)
    en_word_ngrams: tuple[int, ...] = (1, 2)
    en_char_ngrams: tuple[int, ...] = (3,)
    max_chars: int = 20_000  # longer documents are scored on their first max_chars characters

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def _grams(lang: str, text: str, spec: FeatureSpec) -> Counter:
    text = text[: spec.max_chars]
    grams: Counter = Counter()
    if lang == "zh":
        chars = _ZH_TEXT.sub(" ", text)
        for n in spec.zh_char_ngrams:
            grams.update(chars[i:i + n] for i in range(len(chars) - n + 1))
        return grams
    tokens = [t.lower() for t in _EN_WORD.findall(text)]
    for n in spec.en_word_ngrams:
        grams.update(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    for n in spec.en_char_ngrams:
        for token in tokens:
            padded = f"<{token}>"
            grams.update("#" + padded[i:i + n] for i in range(len(padded) - n + 1))
    return grams


def featurize(text: str, lang: str, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """(slot indices, values) of one document; duplicate slots (hash collisions) are summed."""
    grams = _grams(lang, text, spec)
    if not grams:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    mask = (1 << spec.bits) - 1
    slots = np.fromiter((zlib.crc32(g.encode("utf-8")) & mask for g in grams), dtype=np.int64, count=len(grams))
    values = np.log1p(np.fromiter(grams.values(), dtype=np.float32, count=len(grams)))
    slots, inverse = np.unique(slots, return_inverse=True)
    summed = np.zeros(len(slots), dtype=np.float32)
    np.add.at(summed, inverse, values)
    return slots, summed / max(float(np.linalg.norm(summed)), 1e-12)
