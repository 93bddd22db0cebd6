"""Personal data (e-mail, IP, mainland-China phone / resident ID / bank card) replaced by fixed placeholders."""

from data_pipeline.pii.detect import KIND_NAMES, PLACEHOLDERS, replace_pii
from data_pipeline.pii.stage import PiiConfig, PiiStage

__all__ = ["KIND_NAMES", "PLACEHOLDERS", "PiiConfig", "PiiStage", "replace_pii"]
