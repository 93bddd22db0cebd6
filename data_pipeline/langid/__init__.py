"""Language id: a trained model (fastText lid.176) decides, runs of one script are judged apart (zh/en/mixed/...)."""

from data_pipeline.langid.identify import LanguageGuess, guess_language
from data_pipeline.langid.script import LangIdConfig, line_language, split_by_language
from data_pipeline.langid.stage import LangIdStage

__all__ = ["LangIdConfig", "LangIdStage", "LanguageGuess", "guess_language", "line_language", "split_by_language"]
