"""Normalize text so later signals (ratios, n-grams, hashes) see one spelling of each character.

Order matters: HTML entities are unescaped first, then leftover tags are removed (``&amp;nbsp;`` style double escapes are unescaped twice),
then NFKC folds full-width Latin/digits and compatibility forms (``ＡＢＣ１２３`` → ``ABC123``), then
control characters go and whitespace is collapsed per line while line breaks, which the line-level
filters need, are kept. NFKC maps Chinese full-width punctuation ``，`` ``：`` to ASCII; we keep the
Chinese forms (``。，！？：；`` are what zh text should contain, and the terminal-punctuation rule checks them).
Full-width operators (``＜＝＋～``) become ASCII symbols; the symbol ratio does not count an operator between
two operands (``3~5``, ``I < Br``), so formulas and ranges are not symbol soup in either form.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from data_pipeline.normalize.chinese_variants import to_simplified
from data_pipeline.stage import ShardInfo, Stage, meta_of, reject

# Controls except \t and \n; plus zero-width and BOM characters that survive NFKC.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u2060-\u2064\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_BLANK_RUN = re.compile(r"\n{3,}")
_BREAK_TAG = re.compile(r"<\s*(?:br|/p|p|/div|div|/li|li)\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]{0,10}(?:\s[^<>]{0,200})?\s*/?>")
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]{2,8});")
# NFKC turns these full-width forms to ASCII; Chinese text should keep them.
_KEEP_FULL_WIDTH = "，！？：；（）"
_PROTECT = {ord(c): f"\ue000{i}" for i, c in enumerate(_KEEP_FULL_WIDTH)}
_RESTORE = re.compile("\ue000([0-9])")


@dataclass
class NormalizeConfig:
    nfkc: bool = True
    html_entities: bool = True
    strip_html_tags: bool = True  # leftover markup (<br>, <b>, <span class=...>): breaks become newlines
    strip_control: bool = True
    collapse_whitespace: bool = True
    traditional_to_simplified: bool = False


def normalize_text(text: str, cfg: NormalizeConfig) -> str:
    if cfg.html_entities and "&" in text:
        for _ in range(2):  # "&amp;lt;" is common in scraped text: unescape at most twice
            if not _ENTITY.search(text):
                break
            text = html.unescape(text)
    if cfg.strip_html_tags and "<" in text:
        text = _TAG.sub("", _BREAK_TAG.sub("\n", text))
    if cfg.nfkc:
        text = unicodedata.normalize("NFKC", text.translate(_PROTECT))
        text = _RESTORE.sub(lambda m: _KEEP_FULL_WIDTH[int(m.group(1))], text)
    if cfg.strip_control:
        text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if cfg.collapse_whitespace:
        text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
        text = _BLANK_RUN.sub("\n\n", text).strip()
    if cfg.traditional_to_simplified:
        text = to_simplified(text)
    return text


class NormalizeStage(Stage):
    name = "normalize"

    def __init__(self, cfg: NormalizeConfig | None = None):
        self.cfg = cfg or NormalizeConfig()

    def run(self, records: Iterator[dict], shard: ShardInfo) -> Iterator[dict]:
        for record in records:
            normalized = normalize_text(record["text"], self.cfg)
            if not normalized:
                yield reject(record, self.name, "empty_after_normalize")
                continue
            if normalized != record["text"]:
                meta_of(record)["normalized_chars_removed"] = len(record["text"]) - len(normalized)
                record["text"] = normalized
            yield record
