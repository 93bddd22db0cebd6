"""Saying where it broke: heartbeat phases, the incident's host/rank/phase/error/signal, the per-rank values in
the step statistics packet, the straggler rule and the `python -m launch.incidents` timeline."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from launch.heartbeat_monitor import HeartbeatMonitor
from launch.incident_timeline import timeline
from launch.incidents import Incident, exit_signal, localize
from plumbing.user_error import ConfigError
from pretrain.config import resolve_batch_layout
from pretrain.distributed.collectives import Collectives
from pretrain.heartbeat import Heartbeat, heartbeat_path, read_heartbeats
from pretrain.incidents import append_incident
from pretrain.stability.straggler import StragglerDetector
from pretrain.training.loop import reduce_step_stats
from tests.trainer.fake_parts import FakeEngine, fake_trainer, loop_config

REPO = Path(__file__).resolve().parents[2]
HOST = socket.gethostname()


def _wait_for(predicate, timeout_s: float = 5.0):
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return value


def test_a_phase_that_lasts_is_written_once_and_then_the_file_goes_quiet(tmp_path):
    heartbeat = Heartbeat(tmp_path, rank=2, min_interval_s=0.05)
    heartbeat.beat(7)
    heartbeat.phase("forward")  # an attribute store: nothing written yet by this call
    heartbeat.phase("backward")  # ... and the rank hangs here
    record = _wait_for(lambda: (r := read_heartbeats(tmp_path).get(2)) and r.phase == "backward" and r)
    assert record and (record.step, record.phase) == (7, "backward") and record.phase_time is not None
    stamp = heartbeat_path(tmp_path, 2).stat().st_mtime_ns
    time.sleep(0.3)  # six intervals: a hung rank must go stale for the supervisor, not keep beating
    assert heartbeat_path(tmp_path, 2).stat().st_mtime_ns == stamp
    heartbeat.finish(7)
    assert read_heartbeats(tmp_path)[2].done


def test_a_hang_names_host_rank_phase_step_and_every_silent_rank(tmp_path):
    for rank, step, phase in [(0, 12, "reduce"), (1, 11, "backward"), (2, 12, "reduce")]:
        heartbeat = Heartbeat(tmp_path, rank=rank, world_size=3)
        heartbeat.beat(step)
        heartbeat.phase(phase)
        heartbeat.beat(step, force=True)  # the phase thread's write, without waiting for it
        heartbeat._done = True  # stop the phase thread: this test drives the monitor's clock itself
    monitor = HeartbeatMonitor(tmp_path, started_at=0.0)
    monitor.poll(1.0)
    stall = monitor.stall(100.0, heartbeat_timeout_s=30.0, startup_timeout_s=600.0)
    incident = Incident(cause="hang", attempt=1, detected_at=time.time(), rank=stall.rank, detail="rank 1 silent")
    localize(incident, monitor)
    assert (incident.rank, incident.host, incident.phase, incident.rank_step) == (1, HOST, "backward", 11)
    assert incident.ranks == [0, 1, 2]  # its peers wait in the statistics reduction behind it
    assert f"rank 1 on {HOST} in backward of step 12" in incident.detail
    assert incident.failed_at is not None and incident.failed_at <= incident.detected_at


def test_an_exit_names_the_rank_that_wrote_its_error_first_and_the_signal_of_the_exit_code(tmp_path):
    first = Heartbeat(tmp_path, rank=1, world_size=2)
    first.beat(5)
    first.phase("reduce")
    first.fail(RuntimeError("[gloo/transport/tcp/pair.cc:534] Read error\n  [127.0.0.1]:29500: Connection reset by peer"))
    time.sleep(0.01)
    second = Heartbeat(tmp_path, rank=0, world_size=2)
    second.beat(5)
    second.fail("RuntimeError: Connection closed by peer")
    for heartbeat in (first, second):
        heartbeat._done = True
    monitor = HeartbeatMonitor(tmp_path, started_at=0.0)
    monitor.poll(1.0)
    incident = Incident(cause="exit", attempt=1, detected_at=time.time(), exit_code=247, detail="launcher exited")
    localize(incident, monitor)
    assert (incident.rank, incident.host, incident.phase, incident.signal) == (1, HOST, "reduce", "SIGKILL")
    assert incident.error.startswith("RuntimeError: [gloo/transport/tcp/pair.cc:534] Read error [127.0.0.1]")
    assert "\n" not in incident.error


def test_among_ranks_stuck_in_one_step_the_one_in_the_earliest_phase_is_the_culprit(tmp_path):
    # Rank 1 hangs inside its forward; rank 0 waits for it in backward's gradient reduction, rank 2 in the
    # statistics reduction. All beat at the same time and step: only the phase tells them apart.
    for rank, phase in [(0, "backward"), (1, "forward"), (2, "reduce")]:
        heartbeat = Heartbeat(tmp_path, rank=rank, world_size=3)
        heartbeat.beat(6)
        heartbeat.phase(phase)
        heartbeat.beat(6, force=True)
        heartbeat._done = True
    monitor = HeartbeatMonitor(tmp_path, started_at=0.0)
    monitor.poll(1.0)
    stall = monitor.stall(100.0, heartbeat_timeout_s=30.0, startup_timeout_s=600.0)
    assert (stall.rank, stall.silent_ranks) == (1, (0, 1, 2))


def test_the_culprit_is_not_the_peer_whose_last_write_happened_to_be_earliest(tmp_path):
    monitor = HeartbeatMonitor(tmp_path, started_at=0.0)
    for rank, phase, seen_at in [(0, "backward", 1.0), (1, "forward", 1.3)]:  # rank 0 waits for rank 1
        heartbeat = Heartbeat(tmp_path, rank=rank, world_size=2)
        heartbeat.beat(3)
        heartbeat.phase(phase)
        heartbeat.beat(3, force=True)
        heartbeat._done = True
        monitor.poll(seen_at)
    stall = monitor.stall(11.1, heartbeat_timeout_s=10.0, startup_timeout_s=600.0)  # only rank 0 is past 10 s
    assert (stall.rank, stall.silent_ranks) == (1, (0, 1))


@pytest.mark.parametrize("code, name", [(247, "SIGKILL"), (137, "SIGKILL"), (-9, "SIGKILL"), (134, "SIGABRT"),
                                        (139, "SIGSEGV"), (1, None), (2, None), (0, None), (None, None)])
def test_exit_codes_that_stand_for_a_signal(code, name):
    assert exit_signal(code) == name


def test_a_rank_dying_of_an_exception_writes_its_text_and_phase_into_its_heartbeat(tmp_path):
    config = loop_config(tmp_path, "train.max_steps=5")

    class FailingEngine(FakeEngine):
        def backward(self, loss):
            if self.applied_steps == 2:
                raise RuntimeError("NCCL error in: ProcessGroupNCCL.cpp:1970, unhandled system error")

    trainer = fake_trainer(config, FailingEngine(resolve_batch_layout(config.train, 1)))
    trainer.heartbeat = Heartbeat(tmp_path / "beats", rank=0)
    with pytest.raises(RuntimeError, match="NCCL error"):
        trainer.fit()
    record = read_heartbeats(tmp_path / "beats")[0]
    assert (record.step, record.phase, record.done) == (2, "backward", False)
    assert record.error == "RuntimeError: NCCL error in: ProcessGroupNCCL.cpp:1970, unhandled system error"


class _Capture(Collectives):
    """Rank `rank` of 2; `sum_` adds `others` (another rank's packet) to this rank's."""

    def __init__(self, rank: int, others: torch.Tensor | None = None):
        super().__init__(torch.device("cpu"))
        self._rank, self.others, self.packet = rank, others, None

    def rank(self) -> int:
        return self._rank

    def world_size(self) -> int:
        return 2

    def sum_(self, tensor):
        self.packet = tensor.clone()
        return tensor + self.others if self.others is not None else tensor


def test_every_ranks_times_and_nonfinite_flags_ride_in_the_one_packet():
    one = _Capture(1)
    reduce_step_stats(torch.tensor([float("nan"), 2.0]), 5, torch.tensor(9.0, dtype=torch.float64), one,
                      compute_s=0.30, step_s=0.50)
    zero = _Capture(0, others=one.packet)
    stats = reduce_step_stats(torch.tensor([1.0, 2.0]), 7, torch.tensor(16.0, dtype=torch.float64), zero,
                              compute_s=0.10, step_s=0.49)
    assert stats.compute_s.tolist() == [0.10, 0.30] and stats.step_s.tolist() == [0.49, 0.50]
    assert stats.nonfinite_ranks == stats.nonfinite_loss_ranks == [1] and stats.nonfinite_grad_ranks == []
    assert stats.fingerprint == 12 and stats.grad_norm == 5.0
    assert math.isnan(stats.micro_losses[0]) and stats.micro_losses[1] == 2.0
    grad = _Capture(1)
    reduce_step_stats(torch.tensor([1.0]), 0, torch.tensor(math.inf, dtype=torch.float64), grad)
    assert reduce_step_stats(torch.tensor([1.0]), 0, torch.tensor(1.0, dtype=torch.float64),
                             _Capture(0, others=grad.packet)).nonfinite_grad_ranks == [1]


def test_a_straggler_is_reported_after_k_slow_windows_once_per_streak():
    detector = StragglerDetector(fraction=0.2, window_steps=2, windows=2)
    fast, slow = [0.10, 0.10, 0.10], [0.10, 0.10, 0.15]  # rank 2 at 1.5x the median
    assert detector.observe(1, [0.0, 0.0, 0.0], [0.0] * 3) is None  # a launch's first step: not timed
    reports = [detector.observe(step, slow, [0.3] * 3) for step in range(2, 10)]
    windows = [r for r in reports if r is not None]
    assert [w.step for w in windows] == [3, 5, 7, 9]
    assert [[s.rank for s in w.new_stragglers] for w in windows] == [[], [2], [], []]  # once per streak
    assert windows[1].new_stragglers[0].ratio == pytest.approx(1.5)
    assert windows[0].metrics()["straggler/slowest_rank"] == 2
    for step in (10, 11):  # a window at normal speed ends the streak; slow again -> reported again
        detector.observe(step, fast, [0.3] * 3)
    again = [detector.observe(step, slow, [0.3] * 3) for step in range(12, 16)]
    assert [[s.rank for s in r.new_stragglers] for r in again if r is not None] == [[], [2]]
    jitter = StragglerDetector(fraction=0.2, window_steps=1, windows=2)  # one slow window alone is jitter
    assert [jitter.observe(s, v, [1.0] * 3).new_stragglers for s, v in [(1, slow), (2, fast), (3, slow)]] == [[], [], []]
    off = StragglerDetector(fraction=0.0, window_steps=1, windows=1)
    assert off.observe(1, slow, [1.0] * 3).new_stragglers == []
    with pytest.raises(ConfigError, match="train.straggler"):
        StragglerDetector(fraction=-0.1)


def test_the_timeline_prints_detect_relaunch_first_step_and_steps_lost(tmp_path):
    path = tmp_path / "incidents.jsonl"
    append_incident(path, "trainer", "straggler", at=100.0, step=40, rank=3, host="node07", ratio=1.4,
                    compute_s=0.14, median_s=0.10, windows=3)
    append_incident(path, "supervisor", "failure", at=200.0, cause="exit", attempt=1, detected_at=200.0,
                    failed_at=199.4, exit_code=247, signal="SIGKILL", rank=1, host="node02", phase="optimizer",
                    rank_step=52, last_step=53, resumed_step=50, steps_lost=3, time_to_recover_s=41.5,
                    phases={"teardown_s": 2.0, "backoff_s": 5.0, "startup_s": 30.0, "first_step_s": 4.5})
    lines = timeline(json.loads(line) for line in path.read_text().splitlines())
    text = "\n".join(lines)
    assert "straggler rank 3 on node07: compute 1.40x the median (140.0 ms vs 100.0 ms per step)" in text
    assert "exit  rank 1 on node02 in optimizer of step 53 (SIGKILL, exit code 247)" in text
    assert "detect 0.6 s · relaunch 7.0 s · first resumed step 41.5 s · resumed at step 50, 3 step(s) lost" in text
    assert lines[-1].startswith("1 failure(s), 3 step(s) lost, 42.1 s from failure to resumed training")
    cli = subprocess.run([sys.executable, "-m", "launch.incidents", str(tmp_path)], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert cli.returncode == 0 and cli.stdout.splitlines() == lines
    missing = subprocess.run([sys.executable, "-m", "launch.incidents", str(tmp_path / "nope")], cwd=REPO,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no incidents file" in missing.stderr


def test_the_timeline_counts_the_node_check_in_relaunch_and_nothing_for_an_elastic_node_loss(tmp_path):
    path = tmp_path / "incidents.jsonl"
    append_incident(path, "supervisor", "failure", at=200.0, cause="exit", attempt=1, detected_at=200.0,
                    failed_at=199.0, rank=1, host="node02", dropped_nodes=["node02"], resumed_step=50,
                    steps_lost=3, time_to_recover_s=80.0,
                    phases={"teardown_s": 2.0, "node_check_s": 30.0, "backoff_s": 5.0})
    append_incident(path, "supervisor", "failure", at=300.0, cause="node_lost", attempt=2, detected_at=300.0,
                    failed_at=299.5, rank=0, host="node01", resumed_step=60, steps_lost=1, time_to_recover_s=45.0,
                    phases={"startup_s": 40.0})
    text = "\n".join(timeline(json.loads(line) for line in path.read_text().splitlines()))
    assert "relaunched without node02" in text
    assert "detect 1.0 s · relaunch 37.0 s · first resumed step 80.0 s" in text  # teardown + doctor + backoff
    assert "detect 0.5 s · relaunch 0.0 s · first resumed step 45.0 s" in text  # the agents re-form the world


def test_a_torn_or_foreign_line_is_skipped_and_counted_not_fatal(tmp_path):
    path = tmp_path / "incidents.jsonl"
    append_incident(path, "supervisor", "failure", at=200.0, cause="exit", attempt=1, detected_at=200.0,
                    failed_at=199.0, rank=1, resumed_step=5, steps_lost=1, time_to_recover_s=10.0)
    with path.open("ab") as handle:  # a record whose fields have the wrong types, then a torn last append
        handle.write(b'{"source": "supervisor", "kind": "failure", "steps_lost": "many", "detected_at": "x"}\n')
        handle.write(b'{"time": "2026-12-07T00:00:00", "source": "sup\xff')
    cli = subprocess.run([sys.executable, "-m", "launch.incidents", str(path)], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "exit  rank 1" in cli.stdout
    assert cli.stdout.splitlines()[-1].startswith("1 failure(s), 1 step(s) lost")
    assert cli.stdout.splitlines()[-1].endswith("; 2 unreadable line(s) skipped")
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_bytes(b"\xff\xfe not json\n[1, 2]\n")
    refused = subprocess.run([sys.executable, "-m", "launch.incidents", str(foreign)], cwd=REPO,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "not an incidents file" in refused.stderr


def test_a_run_directory_without_incidents_reports_none(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("")  # a run that never failed writes no incidents file
    cli = subprocess.run([sys.executable, "-m", "launch.incidents", str(tmp_path)], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.splitlines() == ["0 failure(s), 0 step(s) lost; 0 straggler report(s), 0 skipped step(s)"]
