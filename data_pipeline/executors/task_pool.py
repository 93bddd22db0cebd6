"""Fit passes of a CorpusStage as tasks on local worker processes (dedup.tasks.TaskMap, the local twin of
executors.ray.ray_task_map).

A stage whose `fit` takes `map_tasks` hands each pass to it as a list of independent tasks; the driver then
only loops over ranges, and the memory of a task (bounded by the stage's merge_memory_mb) is spent in a
worker process that exits with the pool, so no pass leaves its pages in the driver.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

from data_pipeline.dedup.tasks import TaskMap, serial_map
from data_pipeline.stage import CorpusStage


@contextmanager
def process_task_map(workers: int) -> Iterator[TaskMap]:
    """A TaskMap over `workers` forked processes (in this process when workers <= 1), alive for the block."""
    if workers <= 1:
        yield serial_map
        return
    context = get_context("fork") if "fork" in get_all_start_methods() else get_context()
    with ProcessPoolExecutor(workers, mp_context=context) as pool:

        def map_tasks(fn: Callable, calls: Sequence[tuple]) -> list:
            if len(calls) <= 1:  # one task: a round trip to a worker buys nothing
                return [fn(*args) for args in calls]
            futures = [pool.submit(fn, *args) for args in calls]
            return [future.result() for future in futures]

        yield map_tasks


def fit_corpus_stage(stage: CorpusStage, state_dir: Path, num_shards: int, map_tasks: TaskMap) -> None:
    """stage.fit, with `map_tasks` when the stage runs its passes as tasks."""
    if "map_tasks" in inspect.signature(stage.fit).parameters:
        stage.fit(state_dir, num_shards, map_tasks=map_tasks)
    else:
        stage.fit(state_dir, num_shards)
