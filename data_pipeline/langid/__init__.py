"""Script-ratio language id for zh/en/mixed/other (no model: Han vs Latin characters per line)."""

from data_pipeline.langid.script import (
    LangIdConfig,
    LanguageGuess,
    guess_language,
    line_language,
    split_by_language,
)
from data_pipeline.langid.stage import LangIdStage

__all__ = ["LangIdConfig", "LangIdStage", "LanguageGuess", "guess_language", "line_language", "split_by_language"]
