"""Line-level cleaning: drop navigation/boilerplate lines and symbol-heavy or near-empty lines, keep the rest.

Each line is judged with the thresholds of its own language (a mixed document is cleaned line by line). The
document is rejected, with its original text, when too little of it remains. Every removed line is kept with
its reason under ``meta.lines_removed`` (kept and rejected output alike), so a removal can be audited.
Lines inside code blocks are left alone (see `code_blocks`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from data_pipeline.filters.code_blocks import code_line_mask
from data_pipeline.filters.phrases import PhraseMatcher, is_boilerplate_line
from data_pipeline.filters.textstats import TERMINAL_PUNCT
from data_pipeline.langid.script import EN, LangIdConfig, count_scripts, line_language
from data_pipeline.stage import ShardInfo, Stage, meta_of, reject


@dataclass
class LineCleaningThresholds:
    enabled: bool = True
    boilerplate_phrases: list[str] = field(default_factory=list)  # see phrases.is_boilerplate_line
    boilerplate_max_line_chars: int = 80  # longer lines that mention a phrase are prose, kept
    min_letter_ratio: float = 0.5  # letters and digits / (those + symbols); punctuation counts for neither
    min_line_units: int = 2  # lines without terminal punctuation need this many words (en) / Han chars (zh)
    min_chars_left: int = 50
    min_fraction_left: float = 0.3


@dataclass
class LineVerdicts:
    kept: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> lines
    removed: list[dict] = field(default_factory=list)  # {"text": line, "reason": reason}, in text order


class LineCleaner(Stage):
    name = "line_clean"

    def __init__(self, per_language: dict, langid: LangIdConfig | None = None):
        self.thresholds = {lang: getattr(cfg, "lines", cfg) for lang, cfg in per_language.items()}
        self.langid = langid or LangIdConfig()
        self._boilerplate = {lang: PhraseMatcher(t.boilerplate_phrases) for lang, t in self.thresholds.items()}

    def line_reason(self, line: str, doc_lang: str) -> str | None:
        """Why `line` should go, or None to keep it."""
        lang, _ = line_language(line, self.langid)
        lang = lang if lang in self.thresholds else (doc_lang if doc_lang in self.thresholds else EN)
        t: LineCleaningThresholds = self.thresholds[lang]
        if not t.enabled:
            return None
        if is_boilerplate_line(line, self._boilerplate[lang], t.boilerplate_max_line_chars):
            return "boilerplate"
        # Digits are content ("1963年12月至1967年4月，任县委书记。") and punctuation is prose ("“走！”"):
        # only symbols (★ → $ emoji) and other non-letters weigh against a line.
        content = sum(1 for ch in line if ch.isalnum())
        junk = sum(1 for ch in line if not (ch.isalnum() or ch.isspace() or unicodedata.category(ch)[0] == "P"))
        if junk and content < t.min_letter_ratio * (content + junk):
            return "symbols"
        han, _, _, _ = count_scripts(line)
        if not line.endswith(TERMINAL_PUNCT):
            size = han if lang == "zh" else len(line.split())
            if size < t.min_line_units:
                return "too_short"
        return None

    def clean(self, text: str, doc_lang: str) -> LineVerdicts:
        verdicts = LineVerdicts()
        text_lines = text.split("\n")
        for line, in_code in zip(text_lines, code_line_mask(text_lines)):
            stripped = line.strip()
            if not stripped or in_code:
                verdicts.kept.append(line)  # paragraph breaks and code stay
                continue
            reason = self.line_reason(stripped, doc_lang)
            if reason is None:
                verdicts.kept.append(line)
            else:
                verdicts.dropped[reason] = verdicts.dropped.get(reason, 0) + 1
                verdicts.removed.append({"text": stripped, "reason": reason})
        return verdicts

    def run(self, records: Iterator[dict], shard: ShardInfo) -> Iterator[dict]:
        for record in records:
            meta = meta_of(record)
            doc_lang = meta.get("lang", EN)
            verdicts = self.clean(record["text"], doc_lang)
            if verdicts.dropped:
                meta["lines_dropped"] = verdicts.dropped
                meta["lines_removed"] = verdicts.removed
                cleaned = "\n".join(verdicts.kept).strip()
                while "\n\n\n" in cleaned:
                    cleaned = cleaned.replace("\n\n\n", "\n\n")
                t = self.thresholds.get(doc_lang, self.thresholds[EN])
                if len(cleaned) < t.min_chars_left or len(cleaned) < t.min_fraction_left * len(record["text"]):
                    yield reject(record, self.name, "too_little_left")  # rejected with its original text
                    continue
                record["text"] = cleaned
            yield record
