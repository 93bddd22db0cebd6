"""Quality scoring configuration (YAML: the `quality:` node of conf/pipeline.yaml)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class QualityConfig:
    model_path: str | None = None  # a model from `python -m data_pipeline.quality train`; None: no scoring
    # Documents scoring below their language's threshold are rejected; null = the threshold the trainer
    # suggested for that language (stored in the model file, see docs/quality_model.md).
    threshold_zh: float | None = None
    threshold_en: float | None = None
