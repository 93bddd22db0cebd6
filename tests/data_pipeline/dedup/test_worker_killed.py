"""A worker process killed (SIGKILL, no exception, no cleanup) in the middle of a corpus stage: the rerun
reuses every shard task that finished and ends with the bytes of an uninterrupted run."""

import os
import signal
from pathlib import Path

import pytest

from data_pipeline.dedup.config import MinHashDedupConfig
from data_pipeline.dedup.exact import ExactDedupStage
from data_pipeline.dedup.minhash import MinHashDedupStage
from data_pipeline.executors.local import run_pipeline
from data_pipeline.readers import InputConfig, discover_sources


class KilledOnce(ExactDedupStage):
    """Exact dedup whose worker kills itself on shard 1 (during observe or run) while `flag` exists."""

    def __init__(self, flag: Path, during: str):
        super().__init__()
        self.flag, self.during = flag, during

    def _maybe_die(self, shard) -> None:
        if shard.index == 1 and self.flag.exists():
            self.flag.unlink()
            os.kill(os.getpid(), signal.SIGKILL)

    def observe(self, records, shard, workdir):
        if self.during == "observe":
            records = list(records)  # half-written state: the band files of this shard are never written
            self._maybe_die(shard)
        return super().observe(records, shard, workdir)

    def run(self, records, shard):
        for row, record in enumerate(super().run(records, shard)):
            if self.during == "run" and row == 3:
                self._maybe_die(shard)
            yield record


def outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.jsonl.gz"))
            if not p.relative_to(out).as_posix().startswith("_work")}


def markers(out: Path) -> dict[str, int]:
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns
            for p in (out / "_work").rglob("*") if p.name.endswith((".done.json", ".observed"))}


@pytest.mark.slow
@pytest.mark.parametrize("during", ["observe", "run"])
def test_a_killed_worker_rerun_reuses_finished_tasks_and_matches_an_uninterrupted_run(write_lines, tmp_path,
                                                                                     during):
    shared = [f"boilerplate page number {i} with the same words" for i in range(5)]
    paths = [str(write_lines(f"part{s}.jsonl", [{"id": f"p{s}-{i}", "text": shared[i] if i < 5 else
                                                 f"document {i} of part {s} " + "word " * (i % 7)}
                                                for i in range(12)])) for s in range(3)]
    sources = discover_sources(InputConfig(paths=paths))

    def stages(flag: Path):
        return [KilledOnce(flag, during), MinHashDedupStage(MinHashDedupConfig())]

    reference = tmp_path / "ref"
    run_pipeline(stages(tmp_path / "no-flag"), sources, reference, workers=2, progress=False)
    flag = tmp_path / "kill-flag"
    flag.touch()
    out = tmp_path / "out"
    with pytest.raises(Exception, match="terminated abruptly"):  # the pool's BrokenProcessPool
        run_pipeline(stages(flag), sources, out, workers=2, progress=False)
    assert not flag.exists()  # the worker really died there
    finished = markers(out)
    assert len([m for m in finished if m.startswith("_work/seg0/")]) == 3  # the segment before the stage
    run_pipeline(stages(flag), sources, out, workers=2, progress=False)
    after = markers(out)
    assert {m: after[m] for m in finished} == finished  # every task that had finished was reused, not redone
    assert outputs(out) == outputs(reference)
    assert (out / "stats.json").read_bytes() == (reference / "stats.json").read_bytes()
