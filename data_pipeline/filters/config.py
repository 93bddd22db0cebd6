"""Per-language thresholds for every document filter and the line cleaner (YAML: conf/pipeline/filters/)."""

from __future__ import annotations

from dataclasses import dataclass, field

from data_pipeline.filters.boilerplate import BoilerplateThresholds
from data_pipeline.filters.flagged_words import FlaggedWordsThresholds
from data_pipeline.filters.gopher_quality import GopherQualityThresholds
from data_pipeline.filters.gopher_repetition import GopherRepetitionThresholds
from data_pipeline.filters.length import LengthThresholds
from data_pipeline.filters.lines import LineCleaningThresholds
from data_pipeline.filters.punctuation import PunctuationThresholds
from data_pipeline.filters.ratios import RatioThresholds
from data_pipeline.filters.url import UrlFilterConfig


@dataclass
class LanguageFilters:
    length: LengthThresholds = field(default_factory=LengthThresholds)
    gopher_quality: GopherQualityThresholds = field(default_factory=GopherQualityThresholds)
    gopher_repetition: GopherRepetitionThresholds = field(default_factory=GopherRepetitionThresholds)
    punctuation: PunctuationThresholds = field(default_factory=PunctuationThresholds)
    ratios: RatioThresholds = field(default_factory=RatioThresholds)
    boilerplate: BoilerplateThresholds = field(default_factory=BoilerplateThresholds)
    flagged_words: FlaggedWordsThresholds = field(default_factory=FlaggedWordsThresholds)
    lines: LineCleaningThresholds = field(default_factory=LineCleaningThresholds)


@dataclass
class FiltersConfig:
    enabled: bool = True  # the heuristic document filters and the line cleaner (not the URL lists)
    url: UrlFilterConfig = field(default_factory=UrlFilterConfig)  # block lists; no list = no url stage
    zh: LanguageFilters = field(default_factory=LanguageFilters)
    en: LanguageFilters = field(default_factory=LanguageFilters)

    def per_language(self) -> dict[str, LanguageFilters]:
        return {"zh": self.zh, "en": self.en}
