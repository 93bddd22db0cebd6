"""A resume on another world size converts the checkpoint on rank 0 while no collective waits (the others poll
the rendezvous store), and a conversion that was interrupted resumes instead of starting over."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
import torch.distributed as dist

from pretrain.checkpoint import resume_plan, universal, universal_convert
from pretrain.checkpoint.store import CheckpointRef


def _checkpoint(tmp_path: Path, world_size: int = 2) -> CheckpointRef:
    path = tmp_path / "step_00000004"
    path.mkdir()
    (path / "trainer_state.json").write_text(json.dumps({"world_size": world_size, "zero_stage": 2}))
    return CheckpointRef(path, 4)


@pytest.fixture
def no_collectives(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a collective was called around the conversion")

    for name in ("barrier", "all_reduce", "broadcast", "broadcast_object_list", "all_gather_object"):
        monkeypatch.setattr(dist, name, refuse)


def _run_ranks(ref, store, world_size=4):
    """load_plan on ranks 1..N-1 (threads, polling) and then rank 0; (rank → plan or exception)."""
    outcomes = {}

    def rank(r):
        try:
            outcomes[r] = resume_plan.load_plan(ref, 2, r, world_size, store=store, poll_s=0.01)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcomes[r] = exc

    waiting = [threading.Thread(target=rank, args=(r,)) for r in range(1, world_size)]
    for thread in waiting:
        thread.start()
    time.sleep(0.1)
    assert not outcomes, "a rank went on before rank 0 converted"
    rank(0)
    for thread in waiting:
        thread.join(timeout=10)
    return outcomes


def test_no_collective_spans_the_conversion(tmp_path, monkeypatch, no_collectives):
    ref = _checkpoint(tmp_path)
    converted = []
    monkeypatch.setattr(resume_plan, "convert_to_universal", lambda path: (time.sleep(0.2), converted.append(path)))
    outcomes = _run_ranks(ref, dist.HashStore())
    assert converted == [ref.path]  # once, by rank 0
    assert all(plan.universal and plan.checkpoint == ref for plan in outcomes.values()), outcomes


def test_a_failed_conversion_fails_every_rank_with_rank_0s_reason(tmp_path, monkeypatch, no_collectives):
    def broken(path):
        raise RuntimeError("ds_to_universal failed: out of disk")

    monkeypatch.setattr(resume_plan, "convert_to_universal", broken)
    outcomes = _run_ranks(_checkpoint(tmp_path), dist.HashStore())
    assert all(isinstance(exc, RuntimeError) and "out of disk" in str(exc) for exc in outcomes.values()), outcomes


def test_the_same_world_size_converts_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(resume_plan, "convert_to_universal", lambda path: pytest.fail("converted"))
    assert resume_plan.load_plan(_checkpoint(tmp_path, world_size=4), 2, 1, 4, store=dist.HashStore()).universal is False


def test_an_interrupted_pass_redoes_only_the_unfinished_items(tmp_path):
    """ds_to_universal's `_do_parallel_work`, wrapped: the first run dies at item 3 of 6; the rerun does items
    3-5 only and returns every item's result (the merge pass intersects them), the finished ones from markers."""
    calls = []

    def merge(name, fail_at=None):
        if name == fail_at:
            raise KeyboardInterrupt  # the job is killed
        calls.append(name)
        return {f"pattern-not-seen-by-{name}"}

    def parallel_work(do_work, chunks, num_workers):  # DeepSpeed's, with num_workers=1
        return [do_work(chunk) for chunk in chunks]

    names = [f"layers.{i}.weight" for i in range(6)]
    with pytest.raises(KeyboardInterrupt):
        universal_convert.resumable(parallel_work, tmp_path)(lambda n: merge(n, fail_at=names[3]), names, 1)
    assert calls == names[:3]
    calls.clear()
    results = universal_convert.resumable(parallel_work, tmp_path)(lambda n: merge(n), names, 1)
    assert calls == names[3:]
    assert [set(r) for r in results] == [{f"pattern-not-seen-by-{n}"} for n in names]


def test_convert_to_universal_resumes_in_the_interrupted_directory(tmp_path, monkeypatch):
    checkpoint = _checkpoint(tmp_path).path
    tmp = checkpoint / ".tmp_deepspeed_universal"
    kept = tmp / "zero" / "layers.0.weight" / "fp32.pt"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"finished before the kill")
    seen = []

    def run(cmd, **kwargs):
        seen.append((cmd, kept.is_file()))
        (tmp / universal_convert.DONE).mkdir(exist_ok=True)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(universal.subprocess, "run", run)
    target = universal.convert_to_universal(checkpoint)
    (cmd, kept_then), = seen
    assert kept_then and cmd[-4:-2] == [str(checkpoint / "deepspeed"), str(tmp)]
    assert (target / ".complete").is_file() and (target / "zero" / "layers.0.weight" / "fp32.pt").is_file()
    assert not (target / universal_convert.DONE).exists() and not tmp.exists()


def test_a_second_round_never_reads_the_first_rounds_answer(no_collectives):
    """Two engines built in one process group (a rollback's load_plan, a second fine-tune build): rank 1's second
    wait is for rank 0's second answer, not the first one still in the store."""
    from pretrain.distributed.rank_zero import on_rank_zero

    store = dist.HashStore()
    assert on_rank_zero("round-test", lambda: None, 0, store) is None
    assert on_rank_zero("round-test", lambda: None, 1, store, poll_s=0.01) is None
    answer = {}
    waiting = threading.Thread(target=lambda: answer.update(got=on_rank_zero("round-test", None, 1, store,
                                                                             poll_s=0.01)))
    waiting.start()
    time.sleep(0.1)
    assert answer == {}  # round 1 has no answer yet
    on_rank_zero("round-test", lambda: "does not fit", 0, store)
    waiting.join(timeout=10)
    assert answer == {"got": "does not fit"}
