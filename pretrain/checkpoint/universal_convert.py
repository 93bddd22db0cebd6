"""`python -m pretrain.checkpoint.universal_convert INPUT OUTPUT [--workers N]`: DeepSpeed's `ds_to_universal`,
resumable.

ds_to_universal (DeepSpeed 0.19.8) does its heavy work in two passes of independent items, both handed to its
`_do_parallel_work(do_work, work_chunks, num_workers)`: *extract*, one item per ZeRO partition (that rank's
optimizer file → per-parameter fragments under OUTPUT/tmp), and *merge*, one item per parameter (its fragments →
OUTPUT/zero/<name>/{fp32,exp_avg,exp_avg_sq}.pt). It keeps no record of what is done, so a conversion killed
after an hour starts again from nothing. Here that function is wrapped: each finished item leaves a marker under
OUTPUT/.done (written after the item's files, atomically, with the item's return value — the merge pass checks
its items' results together); a rerun into the same OUTPUT skips every marked item and redoes at most those
that were in flight. The cheap steps around the passes (reading metadata, copying the model-state files,
`latest_universal`) simply run again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from plumbing.atomic_write import atomic_write_text

DONE = ".done"


def marker(root: Path, do_work, work) -> Path:
    """Where the marker of `work` for this pass lives: one folder per pass, one file per item."""
    name = getattr(getattr(do_work, "func", do_work), "__name__", "work")
    return root / DONE / name / (hashlib.sha1(repr(work).encode()).hexdigest() + ".json")


class MarkedWork:
    """`do_work`, then the item's marker (a picklable callable: DeepSpeed submits it to a process pool)."""

    def __init__(self, do_work, root: Path):
        self.do_work, self.root = do_work, root

    def __call__(self, work):
        result = self.do_work(work)
        path = marker(self.root, self.do_work, work)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(sorted(result) if isinstance(result, set) else result))
        return result


def resumable(parallel_work, root: Path):
    """ds_to_universal's `_do_parallel_work`, skipping the items marked done under `root` (results in order)."""

    def run(do_work, work_chunks, num_workers):
        work_chunks = list(work_chunks)
        done = {i: marker(root, do_work, work) for i, work in enumerate(work_chunks)}
        done = {i: path for i, path in done.items() if path.is_file()}
        todo = [work for i, work in enumerate(work_chunks) if i not in done]
        fresh = iter(parallel_work(MarkedWork(do_work, root), todo, num_workers) if todo else [])
        return [json.loads(done[i].read_text()) if i in done else next(fresh) for i in range(len(work_chunks))]

    return run


def convert(input_folder: Path, output_folder: Path, workers: int) -> None:
    # lazy: DeepSpeed takes seconds to import; the checkpoint package imports this module for DONE alone
    from deepspeed.checkpoint import ds_to_universal

    args = argparse.Namespace(input_folder=str(input_folder), output_folder=str(output_folder),
                              num_extract_workers=workers, num_merge_workers=max(1, workers // 2),
                              keep_temp_folder=False, strict=True, inject_missing_state=False)
    parallel_work = ds_to_universal._do_parallel_work
    ds_to_universal._do_parallel_work = resumable(parallel_work, output_folder)
    try:
        ds_to_universal.main(args)
    finally:
        ds_to_universal._do_parallel_work = parallel_work  # a second conversion in this process wraps it anew


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pretrain.checkpoint.universal_convert", description=__doc__)
    parser.add_argument("input_folder", type=Path)
    parser.add_argument("output_folder", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    convert(args.input_folder, args.output_folder, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
