"""OUT/report.md: per-stage accounting table plus score and length histograms (PNG)."""

from data_pipeline.report.markdown import write_report

__all__ = ["write_report"]
