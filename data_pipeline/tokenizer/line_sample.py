"""A language-balanced sample of lines, streamed to the SentencePiece trainer (no giant temporary file).

Baichuan trained its tokenizer on ~20M lines, mostly Chinese and English. Two passes over the input: the first
counts lines per language bucket, the second keeps each line with probability ``quota / available`` for its
bucket (seeded, so the sample is reproducible). The fractions hold exactly (in expectation): the sample size is
``max_lines``, or less when a language has too few lines for its share — then that language contributes all its
lines and the others are cut to match (repeating lines would teach BPE nothing). A listed language with no lines
at all is ignored.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Dict  # noqa: UP035 - OmegaConf needs typing generics on py3.10

from data_pipeline.tokenizer.input_records import RecordFieldsConfig, read_documents

OTHER = "other"


@dataclass
class LineSampleConfig:
    max_lines: int = 20_000_000
    # Share of the sample per document language; languages not listed count as "other" (drop "other" to skip them).
    language_fractions: Dict[str, float] = field(  # noqa: UP006
        default_factory=lambda: {"zh": 0.5, "en": 0.4, OTHER: 0.1}
    )
    # SentencePiece skips sentences longer than max_sentence_length bytes; longer lines are cut into chunks.
    max_line_bytes: int = 4096
    min_line_chars: int = 2
    # Read at most this many documents of each input file (0 = all). Both passes read the input, so on a
    # multi-terabyte corpus cap this: the pipeline's shards are already mixed, their heads are a fair sample.
    max_documents_per_file: int = 0


def split_long_line(line: str, max_bytes: int) -> list[str]:
    """`line` cut at character boundaries into pieces of at most `max_bytes` UTF-8 bytes."""
    if len(line.encode("utf-8")) <= max_bytes:
        return [line]
    pieces, start, size = [], 0, 0
    for i, ch in enumerate(line):
        width = len(ch.encode("utf-8"))
        if size + width > max_bytes:
            pieces.append(line[start:i])
            start, size = i, 0
        size += width
    pieces.append(line[start:])
    return pieces


class BalancedLineSampler:
    def __init__(self, files: list[Path], config: LineSampleConfig, fields: RecordFieldsConfig, seed: int):
        total = sum(config.language_fractions.values())
        if total <= 0 or any(f < 0 for f in config.language_fractions.values()):
            raise ValueError("sample.language_fractions must be non-negative and not all zero")
        self.files = files
        self.config = config
        self.fields = fields
        self.seed = seed
        self.fractions = {lang: f / total for lang, f in config.language_fractions.items()}
        self.rejections: dict[str, int] = {}
        self.available = self._count_lines()
        present = {lang: n for lang, n in self.available.items() if n and self.fractions[lang] > 0}
        present_mass = sum(self.fractions[lang] for lang in present)
        shares = {lang: self.fractions[lang] / present_mass for lang in present}
        self.sample_size = min([config.max_lines] + [n / shares[lang] for lang, n in present.items()])
        self.keep_probability = {
            lang: min(1.0, shares[lang] * self.sample_size / self.available[lang]) if lang in present else 0.0
            for lang in self.available
        }
        self.sampled: dict[str, int] = {lang: 0 for lang in self.available}

    def _bucket(self, language: str) -> str | None:
        if language in self.fractions:
            return language
        return OTHER if OTHER in self.fractions else None

    def _lines(self) -> Iterator[tuple[str, str]]:
        """(bucket, line) for every usable line of the input, in file order."""
        limit = self.config.max_documents_per_file or None
        for path in self.files:
            for doc in islice(read_documents(path, self.fields, self.rejections), limit):
                bucket = self._bucket(doc.language)
                if bucket is None:
                    continue
                for raw in doc.text.split("\n"):
                    line = raw.rstrip()  # leading whitespace stays: code indentation is worth learning
                    if len(line.strip()) < self.config.min_line_chars:
                        continue
                    for piece in split_long_line(line, self.config.max_line_bytes):
                        yield bucket, piece

    def _count_lines(self) -> dict[str, int]:
        counts = {lang: 0 for lang in self.fractions}
        for bucket, _ in self._lines():
            counts[bucket] += 1
        self.rejections.clear()  # the second pass counts them again
        return counts

    def __iter__(self) -> Iterator[str]:
        rng = random.Random(self.seed)
        self.sampled = {lang: 0 for lang in self.available}
        for bucket, line in self._lines():
            if rng.random() < self.keep_probability[bucket]:
                self.sampled[bucket] += 1
                yield line
