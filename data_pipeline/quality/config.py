"""Quality scoring configuration (YAML: the `quality:` node of conf/pipeline.yaml)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class QualityConfig:
    model_path: str | None = None  # a model from `python -m data_pipeline.quality train`; None: no scoring
    threshold_zh: float = 0.5  # documents scoring below their language's threshold are rejected
    threshold_en: float = 0.5
