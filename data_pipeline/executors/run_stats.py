"""The end every executor shares: per-shard results merged over segments, then stats.json and cleanup.

Local and Ray differ in how shards run; once each shard's counts are in, what a run reports and leaves on disk
is the same, so it is written once here.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence

from data_pipeline.executors.accounting import OutcomeTally, merge_stage_counts, sum_tallies
from data_pipeline.executors.layout import OutputLayout, write_json_atomic
from data_pipeline.readers.validate import READ_STAGE


def merge_shard_result(results: dict[str, dict], result: dict) -> None:
    """Fold one segment's result for a shard into `results` (shard name -> counts over all segments)."""
    merged = results.setdefault(result["shard"], {"source": result["source"], "errors": [], "stages": {},
                                                  "languages": {}})
    merged["errors"].extend(result["errors"])
    merged["stages"].update(result["stages"])
    languages = sum_tallies([merged["languages"], result.get("languages", {})])
    merged["languages"] = {lang: tally.to_dict() for lang, tally in sorted(languages.items())}


def finish_run(results: dict[str, dict], stage_order: list[str], sources: Sequence, segments: Sequence,
               layout: OutputLayout) -> dict:
    """Build and write stats.json, drop the intermediate records; returns the stats."""
    stats = build_stats(results, stage_order, [s.info.name for s in sources])
    stats["corpus_fit"] = corpus_fit_summaries(segments, layout)
    write_json_atomic(layout.stats_path, stats)
    for segment in segments[:-1]:  # intermediate records are re-derivable; the markers stay for reruns
        shutil.rmtree(layout.segment_records_dir(segment.index), ignore_errors=True)
    return stats


def corpus_fit_summaries(segments, layout) -> dict:
    """What each corpus stage decided as a whole (e.g. sentence_dedup's removed sentences and chars), read
    from its state dir so a resumed run that skipped fit reports it too."""
    return {
        segment.corpus_stage.name: segment.corpus_stage.fit_summary(
            layout.corpus_state_dir(segment.index, segment.corpus_stage.name))
        for segment in segments if hasattr(segment.corpus_stage, "fit_summary")}


def build_stats(results: dict[str, dict], stage_order: list[str], shard_order: list[str]) -> dict:
    per_shard = [results[name] for name in shard_order if name in results]
    stages = merge_stage_counts([r["stages"] for r in per_shard], stage_order)
    read = stages.get(READ_STAGE, {"docs_in": 0})
    rejected = sum(s["docs_rejected"] for s in stages.values())
    kept = stages[stage_order[-1]]["docs_kept"] if stage_order[-1] in stages else read.get("docs_kept", 0)
    if read["docs_in"] != kept + rejected:
        raise AssertionError(f"read {read['docs_in']} records but kept {kept} + rejected {rejected}")
    totals = {"docs_read": read["docs_in"], "docs_kept": kept, "docs_rejected": rejected,
              "chars_kept": stages[stage_order[-1]]["chars_kept"]}
    shards = [{"shard": name, "source": results[name]["source"],
               "docs_kept": results[name]["stages"][stage_order[-1]]["docs_kept"]}
              for name in shard_order if name in results]
    errors = [{"shard": name, "source": results[name]["source"], "error": err}
              for name in shard_order if name in results for err in results[name]["errors"]]
    languages = by_language(per_shard)
    pii = OutcomeTally()
    for tally in languages.values():
        pii.add(OutcomeTally.from_dict(tally))
    return {"totals": totals, "stages": stages, "shards": shards, "errors": errors,
            "pii": pii.to_dict()["pii"],  # {kind: {docs, replaced}} over the run; empty without the pii stage
            "by_language": languages, "by_source": by_source(per_shard)}


def by_language(per_shard: list[dict]) -> dict[str, dict]:
    """Per meta.lang ("unknown" before langid): documents and characters kept and rejected, every "stage:rule"
    that rejected some, and the reasons line cleaning dropped lines for."""
    totals = sum_tallies([shard.get("languages", {}) for shard in per_shard])
    return {lang: tally.to_dict() for lang, tally in sorted(totals.items())}


def by_source(per_shard: list[dict]) -> dict[str, dict]:
    """The same per input source (file), plus what was read from it."""
    sources: dict[str, dict] = {}
    for shard in per_shard:
        tally = OutcomeTally()
        for data in shard.get("languages", {}).values():
            tally.add(OutcomeTally.from_dict(data))
        entry = sources.setdefault(str(shard["source"]), {"docs_read": 0, "chars_read": 0, "tally": OutcomeTally()})
        read = shard["stages"].get(READ_STAGE, {})
        entry["docs_read"] += read.get("docs_in", 0)
        entry["chars_read"] += read.get("chars_in", 0)
        entry["tally"].add(tally)
    return {source: {"docs_read": e["docs_read"], "chars_read": e["chars_read"], **e["tally"].to_dict()}
            for source, e in sorted(sources.items())}
