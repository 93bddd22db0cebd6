"""Heartbeat files (pretrain.heartbeat) and how the supervisor's monitor reads them."""

import json
import os
import time
from pathlib import Path

import psutil

from launch.heartbeat_monitor import HeartbeatMonitor
from pretrain.heartbeat import Heartbeat, heartbeat_path, read_heartbeats


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_no_op_without_the_environment_variable(tmp_path):
    heartbeat = Heartbeat.from_env({"RANK": "3"})
    assert not heartbeat.enabled
    assert heartbeat.beat(5) is False
    heartbeat.finish(5)
    assert list(tmp_path.iterdir()) == []


def test_from_env_writes_the_rank_file_atomically(tmp_path):
    heartbeat = Heartbeat.from_env({"BAICHUAN_HEARTBEAT_DIR": str(tmp_path / "hb"), "RANK": "3"})
    assert heartbeat.beat(7) is True
    assert sorted(p.name for p in (tmp_path / "hb").iterdir()) == ["rank3.json"]  # no temporary left behind
    raw = json.loads(heartbeat_path(tmp_path / "hb", 3).read_text())
    assert {k: raw[k] for k in ("step", "rank", "pid", "start_step", "done")} == {
        "step": 7, "rank": 3, "pid": os.getpid(), "start_step": 7, "done": False}
    assert raw["first_step_time"] is None and raw["time"] >= raw["start_time"]


def test_beats_are_rate_limited_except_the_start_and_the_first_step(tmp_path):
    clock = FakeClock()
    heartbeat = Heartbeat(tmp_path, rank=0, min_interval_s=0.5, clock=clock)
    written = []
    for step, now in [(10, 0.0), (11, 0.1), (12, 0.2), (13, 0.4), (14, 0.6), (15, 0.7), (16, 1.2)]:
        clock.now = now
        written.append(heartbeat.beat(step))
    assert written == [True, True, False, False, True, False, True]
    record = read_heartbeats(tmp_path)[0]
    assert (record.step, record.start_step) == (16, 10)
    assert record.first_step_time is not None and record.first_step_time >= record.start_time
    clock.now = 1.3
    assert heartbeat.beat(17, force=True) is True
    heartbeat.finish(17)
    assert read_heartbeats(tmp_path)[0].done


def test_read_heartbeats_skips_torn_and_foreign_files(tmp_path):
    Heartbeat(tmp_path, rank=1).beat(4)
    (tmp_path / "rank2.json").write_text('{"step": 3')  # torn: cannot happen with rename, but must not crash
    (tmp_path / "notes.txt").write_text("hello")
    assert sorted(read_heartbeats(tmp_path)) == [1]
    assert read_heartbeats(tmp_path / "missing") == {}


def test_beats_name_the_runs_other_traces_as_absolute_paths_for_the_monitor(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Heartbeat(tmp_path / "beats", rank=0, checkpoint_dir=Path("ckpt"), metrics_file=Path("run/metrics.jsonl")).beat(3)
    Heartbeat(tmp_path / "beats", rank=1, checkpoint_dir=Path("ckpt")).beat(3)  # only rank 0 writes metrics
    record = read_heartbeats(tmp_path / "beats")[0]
    assert record.checkpoint_dir == str(tmp_path / "ckpt")
    assert record.metrics_file == str(tmp_path / "run" / "metrics.jsonl")
    monitor = HeartbeatMonitor(tmp_path / "beats", started_at=0.0)
    monitor.poll(1.0)
    assert monitor.traces == ({str(tmp_path / "ckpt")}, {str(tmp_path / "run" / "metrics.jsonl")})
    Heartbeat(tmp_path / "plain").beat(1)  # a trainer that names none (older ones too): no traces
    assert read_heartbeats(tmp_path / "plain")[0].checkpoint_dir is None


def _write(directory, rank, step, pid=None, host=None, done=False):
    record = {"rank": rank, "step": step, "time": 0.0, "pid": pid or os.getpid(), "start_step": 0,
              "start_time": 0.0, "first_step_time": None, "done": done}
    if host is not None:
        record["host"] = host
    heartbeat_path(directory, rank).write_text(json.dumps(record))


def test_monitor_names_the_rank_that_got_least_far(tmp_path):
    monitor = HeartbeatMonitor(tmp_path, started_at=0.0)
    _write(tmp_path, 0, 5)
    _write(tmp_path, 1, 4)
    monitor.poll(now=1.0)
    assert monitor.stall(now=2.0, heartbeat_timeout_s=5.0, startup_timeout_s=60.0) is None
    _write(tmp_path, 0, 6)  # rank 0 still beats at t=3, rank 1 does not
    monitor.poll(now=3.0)
    stall = monitor.stall(now=6.5, heartbeat_timeout_s=5.0, startup_timeout_s=60.0)
    assert stall is not None and stall.rank == 1 and stall.last_step == 6 and stall.silent_s == 5.5
    # both silent: still the one behind
    stall = monitor.stall(now=9.0, heartbeat_timeout_s=5.0, startup_timeout_s=60.0)
    assert stall.rank == 1


def test_monitor_startup_timeout_and_finished_ranks(tmp_path):
    monitor = HeartbeatMonitor(tmp_path, started_at=0.0)
    monitor.poll(now=5.0)
    assert monitor.stall(now=5.0, heartbeat_timeout_s=1.0, startup_timeout_s=10.0) is None
    stall = monitor.stall(now=11.0, heartbeat_timeout_s=1.0, startup_timeout_s=10.0)
    assert stall is not None and stall.rank is None
    _write(tmp_path, 0, 9, done=True)  # a rank that finished is not hung however long it stays quiet
    monitor.poll(now=12.0)
    assert monitor.stall(now=100.0, heartbeat_timeout_s=1.0, startup_timeout_s=10.0) is None


def test_monitor_attributes_a_crash_to_the_rank_whose_process_vanished(tmp_path):
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    monitor = HeartbeatMonitor(tmp_path, started_at=0.0)
    _write(tmp_path, 0, 3, host=socket.gethostname())
    _write(tmp_path, 1, 3, pid=dead_pid, host=socket.gethostname())
    _write(tmp_path, 2, 3, pid=dead_pid, host="another-node")  # pids on other hosts are not checked
    monitor.poll(now=1.0)  # first sight of the files
    monitor.poll(now=2.0)  # liveness of the ranks seen so far
    assert monitor.first_exited_rank == 1 and monitor.crashed_ranks == [1]
    # a dead rank is not reported as hung: its launcher's exit code tells the story
    assert monitor.stall(now=100.0, heartbeat_timeout_s=1.0, startup_timeout_s=10.0).rank in (0, 2)


def test_monitor_prefers_a_stopped_process_as_the_culprit(tmp_path):
    import signal
    import socket
    import subprocess

    frozen = subprocess.Popen(["sleep", "60"])
    try:
        frozen.send_signal(signal.SIGSTOP)
        while psutil.Process(frozen.pid).status() != psutil.STATUS_STOPPED:  # delivery is asynchronous
            time.sleep(0.01)
        monitor = HeartbeatMonitor(tmp_path, started_at=0.0)
        # the stopped rank's last (rate-limited) beat shows a later step than its blocked peer's
        _write(tmp_path, 0, 7, pid=frozen.pid, host=socket.gethostname())
        _write(tmp_path, 1, 6, host=socket.gethostname())
        monitor.poll(now=1.0)
        assert monitor.stall(now=10.0, heartbeat_timeout_s=5.0, startup_timeout_s=60.0).rank == 0
    finally:
        frozen.kill()
        frozen.wait()


def test_monitor_does_not_guess_when_several_ranks_vanish_in_one_poll(tmp_path):
    import socket
    import subprocess
    import sys

    dead = [int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                               text=True).stdout) for _ in range(2)]
    monitor = HeartbeatMonitor(tmp_path, started_at=0.0)
    for rank, pid in enumerate(dead):
        _write(tmp_path, rank, 5, pid=pid, host=socket.gethostname())
    monitor.poll(now=1.0)
    monitor.poll(now=2.0)
    assert monitor.crashed_ranks == [0, 1] and monitor.first_exited_rank is None


def test_monitor_names_a_rank_that_never_beat(tmp_path):
    record = {"rank": 0, "step": 0, "time": 0.0, "pid": os.getpid(), "start_step": 0, "start_time": 0.0,
              "first_step_time": None, "done": False, "world_size": 3}
    heartbeat_path(tmp_path, 0).write_text(json.dumps(record))
    heartbeat_path(tmp_path, 2).write_text(json.dumps({**record, "rank": 2}))
    monitor = HeartbeatMonitor(tmp_path, started_at=0.0)
    monitor.poll(now=1.0)
    assert monitor.missing_ranks == [1]
    assert monitor.stall(now=3.0, heartbeat_timeout_s=5.0, startup_timeout_s=60.0) is None
    stall = monitor.stall(now=7.0, heartbeat_timeout_s=5.0, startup_timeout_s=60.0)
    assert stall.rank == 1 and stall.never_beat


def test_from_env_records_the_world_size(tmp_path):
    Heartbeat.from_env({"BAICHUAN_HEARTBEAT_DIR": str(tmp_path), "RANK": "5", "WORLD_SIZE": "8"}).beat(0)
    assert read_heartbeats(tmp_path)[5].world_size == 8
