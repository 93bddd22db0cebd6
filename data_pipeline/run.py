"""Run the data pipeline: ``python -m data_pipeline.run input.paths=[a.jsonl,b.jsonl.gz] output.dir=OUT``.

read → [url] → normalize → langid → document filters → line cleaning → quality score + threshold → [pii] → dedup →
write
kept/, rejected/, stats.json and report.md under output.dir. Running it again on the same output.dir skips
finished shards (see data_pipeline.executors.local).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

from data_pipeline.config import PIPELINE_COMMAND, PipelineConfig
from data_pipeline.decontaminate import DecontaminationStage
from data_pipeline.dedup import build_dedup_stages
from data_pipeline.errors import UserError
from data_pipeline.executors import run_pipeline_for
from data_pipeline.filters import build_document_filters, build_line_cleaner
from data_pipeline.filters.url import UrlFilter
from data_pipeline.langid import LangIdStage
from data_pipeline.normalize import NormalizeStage
from data_pipeline.pii import PiiStage
from data_pipeline.quality.stage import QualityStage
from data_pipeline.readers import discover_sources
from data_pipeline.report import write_report
from data_pipeline.stage import Stage
from plumbing.atomic_write import atomic_write_json


def build_stages(cfg: PipelineConfig) -> list[Stage]:
    """The configured stage list, in pipeline order (reading is the executor's, from the sources)."""
    stages: list[Stage] = [NormalizeStage(cfg.normalize), LangIdStage(cfg.langid)]
    if cfg.filters.url.any_list():  # first: a blocked page costs nothing more
        stages.insert(0, UrlFilter(cfg.filters.url))
    if cfg.filters.enabled:
        stages += build_document_filters(cfg.filters, cfg.langid)
        stages.append(build_line_cleaner(cfg.filters, cfg.langid))
    if cfg.quality.model_path:
        stages.append(QualityStage.from_config(cfg.quality, cfg.langid))
    if cfg.pii.enabled:  # after the judges of the text as written, before dedup compares it
        stages.append(PiiStage(cfg.pii))
    # Dedup keeps the highest meta.quality_score of each duplicate cluster.
    stages += build_dedup_stages(cfg.dedup)
    if cfg.decontamination.benchmarks:  # last: it judges only what would be kept (design.md's order)
        index_dir = cfg.decontamination.index_dir or Path(cfg.output.dir) / "_work" / "decontamination"
        stages.append(DecontaminationStage(cfg.decontamination, Path(index_dir)))
    return stages


RUN_CONFIG_FILE = "pipeline_config.json"


def result_affecting_config(cfg: PipelineConfig) -> dict:
    """The settings that decide the output (not where it goes or how many workers make it), plus the
    quality model's content hash: a rerun may resume only a run made with exactly these."""
    data = dataclasses.asdict(cfg)
    for key in ("output", "executor", "report"):
        data.pop(key)
    if cfg.quality.model_path:
        data["quality"]["model_sha256"] = hashlib.sha256(Path(cfg.quality.model_path).read_bytes()).hexdigest()
    return data


def claim_output_dir(output_dir: Path, cfg: PipelineConfig) -> None:
    """Record the config in output_dir, or refuse to resume a run that was made with another one (its
    finished shards would be silently reused)."""
    wanted = result_affecting_config(cfg)
    path = output_dir / RUN_CONFIG_FILE
    if path.exists():
        if json.loads(path.read_text(encoding="utf-8")) != wanted:
            raise UserError(f"{output_dir} holds a run made with a different configuration",
                            "use a new output.dir, or delete this one to start over")
        return
    atomic_write_json(path, wanted, indent=1)


def run(cfg: PipelineConfig) -> dict:
    sources = discover_sources(cfg.input, announce=True)  # UserError (exit 2): a missing path, an empty glob
    output_dir = Path(cfg.output.dir)
    claim_output_dir(output_dir, cfg)
    run_pipeline = run_pipeline_for(cfg.executor.kind)
    kwargs = {"address": cfg.executor.address} if cfg.executor.kind == "ray" and cfg.executor.address else {}
    stats = run_pipeline(build_stages(cfg), sources, output_dir, workers=cfg.worker_count(),
                         progress=cfg.executor.progress, **kwargs)
    if cfg.report.enabled:
        write_report(output_dir, stats)
    return stats


def summary_line(stats: dict) -> str:
    totals = stats["totals"]
    return (f"read {totals['docs_read']} docs: kept {totals['docs_kept']}, rejected {totals['docs_rejected']}"
            f", {len(stats['errors'])} unreadable input(s)")


def run_and_report(cfg: PipelineConfig) -> int:
    stats = run(cfg)
    print(summary_line(stats))
    print(json.dumps({"stats": str(Path(cfg.output.dir) / "stats.json")}))
    return 0


def main(argv: list[str] | None = None) -> int:
    return PIPELINE_COMMAND.run(run_and_report, argv)


if __name__ == "__main__":
    sys.exit(main())
