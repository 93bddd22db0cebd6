"""Gopher repetition rules (Rae et al. 2021, table A1) as datatrove computes them: duplicate lines and
paragraphs, the top n-gram's characters (every occurrence) and the characters of repeated n-grams (repeats
only, not the first occurrence), each over the length of the text.

English n-grams are over words and punctuation marks; Chinese n-grams over characters
(textstats.ngram_tokens). zh thresholds are FineWeb-2's cmn_Hani ones re-derived on ../shared/data/corpus
(conf/pipeline/filters/zh.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from data_pipeline.filters.base import SignalFilter
from data_pipeline.filters.textstats import (
    NGRAM_JOINER,
    duplicate_stats,
    lines,
    ngram_tokens,
    paragraphs,
    repeated_ngram_chars,
    top_ngram_chars,
)


@dataclass
class GopherRepetitionThresholds:
    enabled: bool = True
    max_dup_line_frac: float = 0.3
    max_dup_para_frac: float = 0.3
    max_dup_line_char_frac: float = 0.2
    max_dup_para_char_frac: float = 0.2
    top_ngram_sizes: list[int] = field(default_factory=lambda: [2, 3, 4])
    top_ngram_max_fracs: list[float] = field(default_factory=lambda: [0.2, 0.18, 0.16])
    dup_ngram_sizes: list[int] = field(default_factory=lambda: [5, 6, 7, 8, 9, 10])
    dup_ngram_max_fracs: list[float] = field(default_factory=lambda: [0.15, 0.14, 0.13, 0.12, 0.11, 0.10])


class GopherRepetitionFilter(SignalFilter):
    name = "gopher_repetition"
    section = "gopher_repetition"

    def compute(self, text: str, lang: str) -> dict:
        t: GopherRepetitionThresholds = self.thresholds.get(lang) or next(iter(self.thresholds.values()))
        text_lines, paras = lines(text), paragraphs(text)
        chars = max(len(text), 1)
        dup_lines, dup_line_chars = duplicate_stats(text_lines)
        dup_paras, dup_para_chars = duplicate_stats(paras)
        tokens = ngram_tokens(text, lang)
        joiner = NGRAM_JOINER.get(lang, " ")
        return {
            "dup_line_frac": round(dup_lines / max(len(text_lines), 1), 4),
            "dup_para_frac": round(dup_paras / max(len(paras), 1), 4),
            "dup_line_char_frac": round(dup_line_chars / chars, 4),
            "dup_para_char_frac": round(dup_para_chars / chars, 4),
            "top_ngram": [round(top_ngram_chars(tokens, n, joiner) / chars, 4) for n in t.top_ngram_sizes],
            "dup_ngram": [round(repeated_ngram_chars(tokens, n) / chars, 4) for n in t.dup_ngram_sizes],
        }

    def judge(self, s: dict, t: GopherRepetitionThresholds) -> str | None:
        if s["dup_line_frac"] > t.max_dup_line_frac:
            return "dup_line_frac"
        if s["dup_para_frac"] > t.max_dup_para_frac:
            return "dup_para_frac"
        if s["dup_line_char_frac"] > t.max_dup_line_char_frac:
            return "dup_line_char_frac"
        if s["dup_para_char_frac"] > t.max_dup_para_char_frac:
            return "dup_para_char_frac"
        for n, value, limit in zip(t.top_ngram_sizes, s["top_ngram"], t.top_ngram_max_fracs):
            if value > limit:
                return f"top_{n}gram"
        for n, value, limit in zip(t.dup_ngram_sizes, s["dup_ngram"], t.dup_ngram_max_fracs):
            if value > limit:
                return f"dup_{n}gram"
        return None
