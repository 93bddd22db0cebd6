"""Benchmark decontamination: drop training text holding n-grams of evaluation items (docs/pipeline.md)."""

from data_pipeline.decontaminate.stage import DecontaminationConfig, DecontaminationStage

__all__ = ["DecontaminationConfig", "DecontaminationStage"]
