"""Ray executor: the local executor's segments, shards and files, scheduled on a Ray cluster with Ray Data.

Same entry point and output as `data_pipeline.executors.local.run_pipeline` (the same segment/shard
functions write kept/, rejected/, done-markers and stats.json, so a run resumes under either executor).
Per segment: fit the CorpusStage — dedup stages run each pass of their fit as Ray tasks (`ray_task_map`:
key ranges of the LSH bands, node ranges of the connected components, ...) — then run every shard (Ray Data `map_batches`, one shard per batch); the same
task observes the shard's output for the next CorpusStage. `address=None` starts a local Ray with `workers` CPUs; "auto" or "ray://..." joins an
existing cluster, whose nodes must all see `output_dir` (shared storage). Ray is an optional extra
(`pip install .[ray]`); the local executor needs none of it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from data_pipeline.errors import UserError
from data_pipeline.executors.layout import OutputLayout
from data_pipeline.executors.local import (
    READ_STAGE,
    Segment,
    observe_shard,
    run_segment_shard,
    split_segments,
)
from data_pipeline.executors.progress import StageProgress
from data_pipeline.executors.run_stats import finish_run, merge_shard_result
from data_pipeline.executors.task_pool import fit_corpus_stage
from data_pipeline.stage import Stage


def ray_available() -> bool:
    try:
        # lazy: Ray is optional (the ray extra) and seconds to import; this only asks whether it is there
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        return False
    return True


def _start_ray(address: str | None, workers: int) -> bool:
    """Connect to (or start) Ray; True when this call started it and must shut it down."""
    # lazy: Ray, inside the functions of this module: an optional, heavy dependency that importing the
    # executors package (the local executor's callers) must not need.
    import ray

    if ray.is_initialized():
        return False
    if address is None:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    import ray.data  # lazy: Ray, as above

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # one INFO line per dataset otherwise
    return True


def _map_shards(task: Callable[[int], str], indices: list[int], workers: int) -> list[str]:
    """task(i) for each shard index as a Ray Data map_batches (one shard per batch, at most `workers` at a
    time); returns the tasks' string results in the order of `indices`."""
    import ray.data  # lazy: Ray, as above

    if not indices:
        return []

    def on_batch(batch: dict) -> dict:
        return {"index": batch["index"], "result": np.array([task(int(i)) for i in batch["index"]], dtype=object)}

    rows = ray.data.from_items([{"index": i} for i in indices]).map_batches(
        on_batch, batch_size=1, batch_format="numpy", num_cpus=1,
        compute=ray.data.TaskPoolStrategy(size=max(1, min(workers, len(indices))))).take_all()
    by_index = {int(row["index"]): row["result"] for row in rows}
    return [by_index[i] for i in indices]


def ray_task_map(workers: int) -> Callable[[Callable, Sequence[tuple]], list]:
    """dedup.tasks.TaskMap as Ray tasks (one CPU each): a fit pass's tasks run on the cluster's workers,
    and the driver only collects their small results."""
    import ray  # lazy: Ray, as above

    def map_tasks(fn: Callable, calls: Sequence[tuple]) -> list:
        if not calls:
            return []
        remote = ray.remote(num_cpus=1, max_retries=3)(_call)
        return ray.get([remote.remote(fn, *args) for args in calls])

    return map_tasks


def _call(fn: Callable, *args):
    return fn(*args)


def _run_segment(segment: Segment, following: Segment | None, sources: Sequence, layout: OutputLayout,
                 workers: int) -> list[dict]:
    """Fit the segment's CorpusStage (its shards were observed by the previous segment's tasks), then run
    every shard; each shard task also observes its fresh output for the next segment's CorpusStage, which
    saves one pass over the data and one Ray Data job per segment."""
    corpus = segment.corpus_stage
    pending = [s for s in sources if not layout.done_marker(segment.index, s.info.name).exists()]
    if corpus is not None and pending:
        unobserved = [i for i, s in enumerate(sources)
                      if not layout.observed_marker(segment.index, corpus.name, s.info.name).exists()]
        _map_shards(lambda i: observe_shard(segment, sources[i], layout) or "", unobserved, workers)
        fit_corpus_stage(corpus, layout.corpus_state_dir(segment.index, corpus.name), len(sources),
                         ray_task_map(workers))

    def task(i: int) -> str:  # shipped to the workers after fit, with the fitted stage inside
        result = run_segment_shard(segment, sources[i], layout)
        if following is not None and following.corpus_stage is not None:
            observe_shard(following, sources[i], layout)
        return json.dumps(result)

    return [json.loads(result) for result in _map_shards(task, list(range(len(sources))), workers)]


def run_pipeline(stages: Sequence[Stage], sources: Sequence, output_dir: Path, workers: int | None = None,
                 progress: bool = True, address: str | None = None) -> dict:
    """Run `stages` over `sources` into `output_dir` on Ray; see data_pipeline.executors for the contract."""
    if not ray_available():
        raise UserError("executor.kind=ray but Ray is not installed", "pip install 'ray[data]' or use "
                        "executor.kind=local")
    import ray  # lazy: Ray, as above

    layout = OutputLayout(Path(output_dir))
    workers = workers or os.cpu_count() or 1
    segments = split_segments(stages)
    stage_order = [READ_STAGE] + [stage.name for stage in stages]
    bars = StageProgress(stage_order, enabled=progress)
    results: dict[str, dict] = {}
    started = _start_ray(address, workers)
    try:
        for segment, following in zip(segments, [*segments[1:], None]):
            for result in _run_segment(segment, following, sources, layout, workers):
                merge_shard_result(results, result)
                bars.add_counts(result["stages"])
    finally:
        bars.close()
        if started:
            ray.shutdown()
    return finish_run(results, stage_order, sources, segments, layout)
