"""Heuristic document filters (signals under meta, thresholds per language) and line-level cleaning."""

from __future__ import annotations

from data_pipeline.filters.base import SignalFilter
from data_pipeline.filters.boilerplate import BoilerplateFilter
from data_pipeline.filters.config import FiltersConfig, LanguageFilters
from data_pipeline.filters.flagged_words import FlaggedWordsFilter
from data_pipeline.filters.gopher_quality import GopherQualityFilter
from data_pipeline.filters.gopher_repetition import GopherRepetitionFilter
from data_pipeline.filters.length import LengthFilter
from data_pipeline.filters.lines import LineCleaner
from data_pipeline.filters.punctuation import PunctuationFilter
from data_pipeline.filters.ratios import RatioFilter
from data_pipeline.langid.script import LangIdConfig
from data_pipeline.stage import Stage

DOCUMENT_FILTERS: tuple[type[SignalFilter], ...] = (
    LengthFilter, RatioFilter, GopherQualityFilter, GopherRepetitionFilter, PunctuationFilter,
    BoilerplateFilter, FlaggedWordsFilter,
)


def build_document_filters(cfg: FiltersConfig, langid: LangIdConfig) -> list[Stage]:
    """The document filters in order: cheapest first, so expensive signals run on fewer documents."""
    return [cls(cfg.per_language(), langid) for cls in DOCUMENT_FILTERS]


def build_line_cleaner(cfg: FiltersConfig, langid: LangIdConfig) -> LineCleaner:
    return LineCleaner(cfg.per_language(), langid)


__all__ = ["DOCUMENT_FILTERS", "FiltersConfig", "LanguageFilters", "LineCleaner", "SignalFilter",
           "build_document_filters", "build_line_cleaner"]
