"""Local executor: stages over shards on N worker processes, resumable, with per-stage accounting.

The stage list is cut into segments at each CorpusStage. Segment 0 reads the input shards; each later segment
reads the previous segment's per-shard output from ``_work/`` (after its CorpusStage observed every shard and
was fitted). Each shard of a segment writes its output and rejects atomically, then a ``.done.json`` marker
holding its counts; a rerun skips every shard whose marker exists, so it finishes the work and produces the
same files as an uninterrupted run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

from data_pipeline.errors import ShardFailedError, UnreadableShardError
from data_pipeline.executors.accounting import (
    LanguageTallies,
    ProgressFn,
    StageCounts,
    counted_input,
    routed_output,
)
from data_pipeline.executors.layout import OutputLayout, read_json, write_json_atomic
from data_pipeline.executors.progress import StageProgress
from data_pipeline.executors.run_stats import finish_run, merge_shard_result
from data_pipeline.executors.task_pool import fit_corpus_stage, process_task_map
from data_pipeline.formats.jsonl import JsonlWriter, read_jsonl
from data_pipeline.readers.validate import READ_STAGE  # the reader's rejections count as this stage's
from data_pipeline.stage import CorpusStage, ShardInfo, Stage


@dataclass
class Segment:
    index: int
    stages: list[Stage] = field(default_factory=list)  # stages[0] may be the CorpusStage that opens it
    last: bool = False

    @property
    def corpus_stage(self) -> CorpusStage | None:
        first = self.stages[0] if self.stages else None
        return first if isinstance(first, CorpusStage) else None


def split_segments(stages: Sequence[Stage]) -> list[Segment]:
    segments = [Segment(0)]
    for stage in stages:
        if isinstance(stage, CorpusStage):
            segments.append(Segment(len(segments)))
        segments[-1].stages.append(stage)
    segments[-1].last = True
    return segments


def _segment_input(segment: Segment, source, layout: OutputLayout, errors: list[str]) -> Iterator[dict]:
    if segment.index > 0:
        return read_jsonl(layout.segment_output(segment.index - 1, source.info.name, last=False))

    def read_source() -> Iterator[dict]:
        try:
            yield from source.read()
        except UnreadableShardError as err:
            errors.append(str(err))

    return read_source()


def run_segment_shard(segment: Segment, source, layout: OutputLayout, progress: ProgressFn | None = None) -> dict:
    """Run one shard through one segment; write its output, rejects and done-marker; return its counts."""
    shard: ShardInfo = source.info
    marker = layout.done_marker(segment.index, shard.name)
    if marker.exists():
        return read_json(marker)
    errors: list[str] = []
    counts: dict[str, StageCounts] = {}
    outcomes = LanguageTallies()  # each record where it leaves: rejected here, or kept by the last segment
    with JsonlWriter(layout.rejected(segment.index, shard.name), lazy=True) as rejected_writer, \
            JsonlWriter(layout.segment_output(segment.index, shard.name, segment.last)) as kept:

        def rejected(record: dict) -> None:
            outcomes.add_record(record)
            rejected_writer.write(record)

        stream = _segment_input(segment, source, layout, errors)
        if segment.index == 0:  # the reader's own rejects (bad JSON, bad UTF-8...) count as stage "read"
            counts[READ_STAGE] = StageCounts()
            stream = _naming_failures(stream, READ_STAGE, counts[READ_STAGE], source)
            stream = routed_output(READ_STAGE, counted_input(stream, counts[READ_STAGE]), counts[READ_STAGE],
                                   rejected, progress)
        for stage in segment.stages:
            stage_counts = counts[stage.name] = StageCounts()
            output = _naming_failures(stage.run(counted_input(stream, stage_counts), shard), stage.name,
                                      stage_counts, source)
            stream = routed_output(stage.name, output, stage_counts, rejected, progress)
        for record in stream:
            kept.write(record)
            if segment.last:
                outcomes.add_record(record)
        for name, stage_counts in counts.items():
            stage_counts.check(name)
        rejected_writer.commit()
        kept.commit()
    result = {"shard": shard.name, "source": getattr(source, "location", shard.name), "errors": errors,
              "stages": {name: c.to_dict() for name, c in counts.items()}, "languages": outcomes.to_dict()}
    write_json_atomic(marker, result)
    return result


def _naming_failures(records: Iterator[dict], stage: str, counts: StageCounts, source) -> Iterator[dict]:
    """`records` (a stage's output), re-raising a bug inside the stage as ShardFailedError naming the input file
    and the record the stage was on. Each stage's output is wrapped, so the innermost wrapper — the failing
    stage's — names it, and the outer ones pass the ShardFailedError on."""
    try:
        yield from records
    except ShardFailedError:
        raise
    except Exception as err:
        where = f"shard {source.info.name} (input {getattr(source, 'location', source.info.name)})"
        if stage == READ_STAGE:
            on = f"reading failed after record {counts.docs_in} (id {counts.last_id!r})"
        else:
            on = f"stage {stage!r} failed on its record {counts.docs_in} (id {counts.last_id!r})"
        raise ShardFailedError(f"{where}: {on}: {type(err).__name__}: {err}") from err


def observe_shard(segment: Segment, source, layout: OutputLayout) -> None:
    stage = segment.corpus_stage
    marker = layout.observed_marker(segment.index, stage.name, source.info.name)
    if marker.exists():
        return
    records = read_jsonl(layout.segment_output(segment.index - 1, source.info.name, last=False))
    try:
        stage.observe(records, source.info, layout.corpus_state_dir(segment.index, stage.name))
    except Exception as err:
        raise ShardFailedError(f"shard {source.info.name} (input {getattr(source, 'location', source.info.name)})"
                               f": stage {stage.name!r} failed while observing it: {type(err).__name__}: {err}"
                               ) from err
    marker.touch()


# Worker processes get the segment once (fork inherits it) instead of pickling it with every shard.
_WORKER_SEGMENT: Segment | None = None


def _init_worker(segment: Segment) -> None:
    global _WORKER_SEGMENT
    _WORKER_SEGMENT = segment


def _worker_run(source, layout: OutputLayout) -> dict:
    return run_segment_shard(_WORKER_SEGMENT, source, layout)


def _worker_observe(source, layout: OutputLayout) -> None:
    observe_shard(_WORKER_SEGMENT, source, layout)


def _map_shards(segment: Segment, sources: Sequence, layout: OutputLayout, workers: int, in_process: Callable,
                in_worker: Callable, on_done: Callable[[object], None]) -> None:
    """Apply a shard task to every source, in this process or on a pool of forked workers."""
    if workers <= 1 or len(sources) <= 1:
        for source in sources:
            on_done(in_process(source))
        return
    context = get_context("fork") if "fork" in get_all_start_methods() else get_context()
    with ProcessPoolExecutor(min(workers, len(sources)), mp_context=context, initializer=_init_worker,
                             initargs=(segment,)) as pool:
        futures = [pool.submit(in_worker, source, layout) for source in sources]
        for future in as_completed(futures):
            on_done(future.result())


def run_pipeline(stages: Sequence[Stage], sources: Sequence, output_dir: Path, workers: int | None = None,
                 progress: bool = True) -> dict:
    """Run `stages` over `sources` into `output_dir`; see data_pipeline.executors for the contract."""
    layout = OutputLayout(Path(output_dir))
    workers = workers or os.cpu_count() or 1
    segments = split_segments(stages)
    stage_order = [READ_STAGE] + [stage.name for stage in stages]
    bars = StageProgress(stage_order, enabled=progress)
    live = workers <= 1 or len(sources) <= 1  # in-process: bars advance as records flow
    results: dict[str, dict] = {}  # shard name -> its counts merged over segments

    def on_shard_done(result: dict) -> None:
        merge_shard_result(results, result)
        if not live:
            bars.add_counts(result["stages"])

    try:
        for segment in segments:
            pending = [s for s in sources if not layout.done_marker(segment.index, s.info.name).exists()]
            corpus = segment.corpus_stage
            if corpus is not None and pending:
                _map_shards(segment, sources, layout, workers,
                            lambda s, seg=segment: observe_shard(seg, s, layout), _worker_observe, lambda _: None)
                with process_task_map(workers) as map_tasks:
                    fit_corpus_stage(corpus, layout.corpus_state_dir(segment.index, corpus.name), len(sources),
                                     map_tasks)
            _map_shards(segment, sources, layout, workers,
                        lambda s, seg=segment: run_segment_shard(seg, s, layout, bars.update if live else None),
                        _worker_run, on_shard_done)
    finally:
        bars.close()
    return finish_run(results, stage_order, sources, segments, layout)
