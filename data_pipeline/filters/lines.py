"""Line-level cleaning: drop navigation/boilerplate lines and symbol-heavy or near-empty lines, keep the rest.

Each line is judged with the thresholds of its own language (a mixed document is cleaned line by line). The
document is rejected, with its original text, when too little of it remains.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from data_pipeline.filters.phrases import phrase_pattern
from data_pipeline.filters.textstats import TERMINAL_PUNCT
from data_pipeline.langid.script import EN, LangIdConfig, count_scripts, line_language
from data_pipeline.stage import ShardInfo, Stage, meta_of, reject


@dataclass
class LineCleaningThresholds:
    enabled: bool = True
    boilerplate_phrases: list[str] = field(default_factory=list)  # a short line holding one is dropped
    boilerplate_max_line_chars: int = 80  # longer lines that mention a phrase are prose, kept
    min_letter_ratio: float = 0.5  # letters / non-space chars; below: symbol-heavy line
    min_line_units: int = 2  # lines without terminal punctuation need this many words (en) / Han chars (zh)
    min_chars_left: int = 50
    min_fraction_left: float = 0.3


@dataclass
class LineVerdicts:
    kept: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> lines


class LineCleaner(Stage):
    name = "line_clean"

    def __init__(self, per_language: dict, langid: LangIdConfig | None = None):
        self.thresholds = {lang: getattr(cfg, "lines", cfg) for lang, cfg in per_language.items()}
        self.langid = langid or LangIdConfig()
        self._boilerplate = {lang: phrase_pattern(t.boilerplate_phrases, True) for lang, t in self.thresholds.items()}

    def line_reason(self, line: str, doc_lang: str) -> str | None:
        """Why `line` should go, or None to keep it."""
        lang, _ = line_language(line, self.langid)
        lang = lang if lang in self.thresholds else (doc_lang if doc_lang in self.thresholds else EN)
        t: LineCleaningThresholds = self.thresholds[lang]
        if not t.enabled:
            return None
        pattern = self._boilerplate[lang]
        if pattern is not None and len(line) <= t.boilerplate_max_line_chars and pattern.search(line):
            return "boilerplate"
        han, latin, other, nonspace = count_scripts(line)
        if nonspace and (han + latin + other) < t.min_letter_ratio * nonspace:
            return "symbols"
        if not line.endswith(TERMINAL_PUNCT):
            size = han if lang == "zh" else len(line.split())
            if size < t.min_line_units:
                return "too_short"
        return None

    def clean(self, text: str, doc_lang: str) -> LineVerdicts:
        verdicts = LineVerdicts()
        for line in text.split("\n"):
            stripped = line.strip()
            if not stripped:
                verdicts.kept.append(line)  # paragraph breaks stay
                continue
            reason = self.line_reason(stripped, doc_lang)
            if reason is None:
                verdicts.kept.append(line)
            else:
                verdicts.dropped[reason] = verdicts.dropped.get(reason, 0) + 1
        return verdicts

    def run(self, records: Iterator[dict], shard: ShardInfo) -> Iterator[dict]:
        for record in records:
            meta = meta_of(record)
            doc_lang = meta.get("lang", EN)
            verdicts = self.clean(record["text"], doc_lang)
            if verdicts.dropped:
                meta["lines_dropped"] = verdicts.dropped
                cleaned = "\n".join(verdicts.kept).strip()
                while "\n\n\n" in cleaned:
                    cleaned = cleaned.replace("\n\n\n", "\n\n")
                t = self.thresholds.get(doc_lang, self.thresholds[EN])
                if len(cleaned) < t.min_chars_left or len(cleaned) < t.min_fraction_left * len(record["text"]):
                    yield reject(record, self.name, "too_little_left")  # rejected with its original text
                    continue
                record["text"] = cleaned
            yield record
