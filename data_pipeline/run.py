"""Run the data pipeline: ``python -m data_pipeline.run input.paths=[a.jsonl,b.jsonl.gz] output.dir=OUT``.

read → normalize → langid → document filters → line cleaning → quality score + threshold → dedup → write
kept/, rejected/, stats.json and report.md under output.dir. Running it again on the same output.dir skips
finished shards (see data_pipeline.executors.local).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from data_pipeline.config import PipelineConfig, compose_pipeline_config
from data_pipeline.errors import exit_on_user_error
from data_pipeline.executors import run_pipeline_for
from data_pipeline.filters import build_document_filters, build_line_cleaner
from data_pipeline.langid import LangIdStage
from data_pipeline.normalize import NormalizeStage
from data_pipeline.readers import discover_sources
from data_pipeline.stage import Stage


def build_stages(cfg: PipelineConfig) -> list[Stage]:
    """The configured stage list, in pipeline order (reading is the executor's, from the sources)."""
    from data_pipeline.dedup import build_dedup_stages

    stages: list[Stage] = [NormalizeStage(cfg.normalize), LangIdStage(cfg.langid)]
    if cfg.filters.enabled:
        stages += build_document_filters(cfg.filters, cfg.langid)
        stages.append(build_line_cleaner(cfg.filters, cfg.langid))
    if cfg.quality.model_path:
        from data_pipeline.quality.stage import QualityStage

        stages.append(QualityStage.from_config(cfg.quality))
    # Dedup runs last: it keeps the highest meta.quality_score of each duplicate cluster.
    stages += build_dedup_stages(cfg.dedup)
    return stages


def run(cfg: PipelineConfig) -> dict:
    sources = discover_sources(cfg.input)  # UserError (exit 2) for a missing path or an empty glob
    output_dir = Path(cfg.output.dir)
    run_pipeline = run_pipeline_for(cfg.executor.kind)
    kwargs = {"address": cfg.executor.address} if cfg.executor.kind == "ray" and cfg.executor.address else {}
    stats = run_pipeline(build_stages(cfg), sources, output_dir, workers=cfg.worker_count(),
                         progress=cfg.executor.progress, **kwargs)
    if cfg.report.enabled:
        from data_pipeline.report import write_report

        write_report(output_dir, stats)
    return stats


def summary_line(stats: dict) -> str:
    totals = stats["totals"]
    return (f"read {totals['docs_read']} docs: kept {totals['docs_kept']}, rejected {totals['docs_rejected']}"
            f", {len(stats['errors'])} unreadable input(s)")


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    cfg = compose_pipeline_config(sys.argv[1:] if argv is None else argv)
    stats = run(cfg)
    print(summary_line(stats))
    print(json.dumps({"stats": str(Path(cfg.output.dir) / "stats.json")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
