"""How a dedup `fit` runs its passes: as lists of independent tasks handed to the executor.

Every corpus-wide pass of the dedup stages (LSH buckets -> edges per key range, each round of the connected
components per node range, clusters -> removals per root range, boilerplate spans per key range, ...) is a
list of calls `fn(*args)` that share nothing but files under the stage's work dir, so they can run in any
order, in this process, on forked local processes or as Ray tasks. The stage defines this small interface
and the executors provide it (data_pipeline.executors.local.process_task_map, executors.ray.ray_task_map);
`serial_map` is the in-process one, the default when a stage is driven without an executor.

A task's memory is bounded by `merge_memory_mb` (each pass cuts its work into ranges that fit), never by the
corpus; the driver only loops over ranges and adds up the small results the tasks return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# map_tasks(fn, [args, ...]) -> [fn(*args), ...] in the order of the argument list. `fn` and the args must be
# picklable (module-level functions, bound methods of picklable objects) for the process and Ray maps.
TaskMap = Callable[[Callable[..., Any], Sequence[tuple]], list]


def serial_map(fn: Callable[..., Any], calls: Sequence[tuple]) -> list:
    """Every task in this process, in order."""
    return [fn(*args) for args in calls]
