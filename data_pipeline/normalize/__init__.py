"""Text normalization stage: NFKC, HTML entities, control characters, whitespace, optional 繁→简."""

from data_pipeline.normalize.stage import NormalizeConfig, NormalizeStage, normalize_text

__all__ = ["NormalizeConfig", "NormalizeStage", "normalize_text"]
