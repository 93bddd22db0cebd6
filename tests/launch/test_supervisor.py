"""The supervisor against a fake trainer: restarts, hang detection, give-up, incidents, signal forwarding."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import psutil
import pytest

from launch.incidents import read_incidents
from launch.progress import COMMITTED_DIR, committed_step, furthest_step, last_logged_step
from launch.supervisor import LaunchError, Supervisor, SupervisorConfig, with_resume_auto
from pretrain.heartbeat import read_heartbeats


def _attempts(tmp_path) -> list[list[str]]:
    lines = (tmp_path / "argv.jsonl").read_text().splitlines()
    return [json.loads(line)["argv"] for line in lines]


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _two_rank_launcher(rank0: list[str], rank1: list[str]) -> list[str]:
    """A tiny stand-in for deepspeed/torchrun: two ranks with their own state files; arguments appended to
    the launcher (train.resume=auto) reach both, as with the real launchers."""
    script = " & ".join(f'RANK={rank} {shlex.join(command)} "$@" state={command[2].split("=", 1)[1]}{rank}'
                        for rank, command in enumerate((rank0, rank1)))
    return ["sh", "-c", f"{script} & wait", "launcher"]


def test_with_resume_auto_appends_once_and_replaces_an_explicit_path():
    assert with_resume_auto(["deepspeed", "-m", "x", "a=1"]) == ["deepspeed", "-m", "x", "a=1", "train.resume=auto"]
    assert with_resume_auto(["x", "train.resume=auto"]) == ["x", "train.resume=auto"]
    assert with_resume_auto(["x", "train.resume=/ckpt/step_100", "b=2"]) == ["x", "train.resume=auto", "b=2"]
    assert with_resume_auto(["x", "+train.resume=/c"]) == ["x", "train.resume=auto"]


def test_clean_exit_ends_with_zero_and_no_incident(tmp_path, fake_command, supervise):
    assert supervise(fake_command("steps=3")) == 0
    assert len(_attempts(tmp_path)) == 1
    assert read_incidents(tmp_path / "incidents.jsonl") == []


def test_crash_restarts_with_resume_auto_and_records_steps_lost(tmp_path, fake_command, supervise):
    rc = supervise(fake_command("steps=12", "ckpt_every=5", "crash_at=8", "fail_attempts=1"))
    assert rc == 0
    attempts = _attempts(tmp_path)
    assert len(attempts) == 2
    assert "train.resume=auto" not in attempts[0]
    assert attempts[1].count("train.resume=auto") == 1
    assert (tmp_path / "state").read_text() == "12"  # the restart resumed and finished the run
    [incident] = read_incidents(tmp_path / "incidents.jsonl")
    assert incident["cause"] == "exit" and incident["exit_code"] == 3
    assert incident["rank"] == 0
    assert incident["last_step"] == 8 and incident["resumed_step"] == 5 and incident["steps_lost"] == 3
    assert incident["time_to_recover_s"] > 0
    assert set(incident["phases"]) == {"teardown_s", "backoff_s", "startup_s", "first_step_s"}
    assert incident["gave_up"] is False and incident["source"] == "supervisor"


def test_last_step_is_the_newest_trace_when_the_heartbeat_lags_the_checkpoint(tmp_path, fake_command, supervise):
    """Beats are rate-limited: the attempt beat last at step 4, committed checkpoint 6 and logged step 7 before it
    crashed. The record must say last step 7, resumed 6, one step lost — not last step 4 and none lost."""
    run_dir = tmp_path / "run"
    rc = supervise(fake_command("steps=9", "ckpt_every=3", "beat_every=4", "crash_at=7", "fail_attempts=1",
                                f"run_dir={run_dir}"))
    assert rc == 0
    [incident] = read_incidents(tmp_path / "incidents.jsonl")
    assert incident["last_step"] == 7 and incident["resumed_step"] == 6 and incident["steps_lost"] == 1
    # Each trace alone: the checkpoint wins over a lagging beat even without a metrics log.
    assert furthest_step(4, [str(run_dir / "checkpoints")], []) == 9  # the finished run's last save
    assert furthest_step(4, [str(tmp_path / "missing")], [str(tmp_path / "missing.jsonl")]) == 4


def test_progress_reads_the_stores_committed_directories_and_skips_a_torn_metrics_line(tmp_path):
    from pretrain.checkpoint.store import STEP_DIR, step_dir_name

    assert COMMITTED_DIR.pattern == STEP_DIR.pattern
    for step in (3, 12):
        (tmp_path / step_dir_name(step)).mkdir()
    (tmp_path / f".tmp_{step_dir_name(15)}").mkdir()  # a save in flight is not committed
    assert committed_step(tmp_path) == 12
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"step": 11, "loss": 2.0}\n{"step": 12, "loss": 1.9}\n{"step": 13, "lo')
    assert last_logged_step(metrics) == 12


def test_hang_is_detected_killed_and_restarted(tmp_path, fake_command, supervise):
    rc = supervise(fake_command("steps=6", "ckpt_every=2", "hang_at=3", "fail_attempts=1"), heartbeat_timeout_s=2.0)
    assert rc == 0
    assert len(_attempts(tmp_path)) == 2
    [incident] = read_incidents(tmp_path / "incidents.jsonl")
    assert incident["cause"] == "hang" and incident["exit_code"] is None
    assert incident["rank"] == 0 and incident["last_step"] == 3
    assert incident["resumed_step"] == 2 and incident["steps_lost"] == 1


def test_gives_up_after_max_restarts_within_window(tmp_path, fake_command, supervise):
    rc = supervise(fake_command("steps=5", "ckpt_every=100", "crash_at=2"), max_restarts=2)
    assert rc == 1
    attempts = _attempts(tmp_path)
    assert len(attempts) == 3  # the first launch + 2 restarts
    assert all(a.count("train.resume=auto") == 1 for a in attempts[1:])
    incidents = read_incidents(tmp_path / "incidents.jsonl")
    assert [i["attempt"] for i in incidents] == [1, 2, 3]
    assert [i["gave_up"] for i in incidents] == [False, False, True]
    assert [i["steps_lost"] for i in incidents[:2]] == [2, 2]  # no checkpoint: every restart starts over


def test_only_restarts_inside_the_window_count(tmp_path, fake_command, supervise):
    command = fake_command("steps=4", "ckpt_every=100", "crash_at=2", "fail_attempts=2")
    # A zero-second window forgets every earlier restart: two failures, one restart allowed, still finishes.
    assert supervise(command, max_restarts=1, restart_window_s=0.0) == 0
    assert len(_attempts(tmp_path)) == 3
    (tmp_path / "argv.jsonl").unlink()
    (tmp_path / "state").unlink()
    # With an hour-long window the same two failures exhaust the single allowed restart.
    assert supervise(command, max_restarts=1, restart_window_s=3600.0) == 1
    assert len(_attempts(tmp_path)) == 2


def test_no_heartbeat_within_startup_timeout_is_a_hang(tmp_path, supervise):
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    rc = supervise(sleeper, startup_timeout_s=1.0, max_restarts=0)
    assert rc == 1
    [incident] = read_incidents(tmp_path / "incidents.jsonl")
    assert incident["cause"] == "hang" and incident["rank"] is None and incident["gave_up"] is True


def test_the_stale_rank_is_named_and_the_whole_group_is_killed(tmp_path, fake_command, supervise):
    launcher = _two_rank_launcher(fake_command("steps=3"), fake_command("steps=9", "hang_at=3"))
    rc = supervise(launcher, heartbeat_timeout_s=2.0, max_restarts=0)
    assert rc == 1
    [incident] = read_incidents(tmp_path / "incidents.jsonl")
    assert incident["cause"] == "hang" and incident["rank"] == 1 and incident["last_step"] == 3
    beats = read_heartbeats(tmp_path / "heartbeats" / "attempt-1")
    assert sorted(beats) == [0, 1] and beats[0].done and not beats[1].done
    assert not _running(beats[1].pid)  # the hung rank did not outlive its launcher


def test_missing_command_and_missing_executable_are_user_errors(tmp_path):
    config = SupervisorConfig(incidents_path=tmp_path / "incidents.jsonl", heartbeat_dir=tmp_path / "hb")
    with pytest.raises(LaunchError, match="no command"):
        Supervisor([], config)
    with pytest.raises(LaunchError, match="cannot start"):
        Supervisor(["/nonexistent/trainer"], config).run()


def test_cli_usage_error_is_one_line_exit_2():
    result = subprocess.run([sys.executable, "-m", "launch.run", "--max-restarts", "-1", "--", "true"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")


@pytest.mark.slow
def test_sigterm_is_forwarded_and_the_supervisor_exits_zero(tmp_path, fake_command):
    command = fake_command("steps=100000", "step_time=0.05")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAICHUAN_")}
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "launch.run", "--incidents", str(tmp_path / "incidents.jsonl"),
         "--heartbeat-dir", str(tmp_path / "heartbeats"), "--poll-interval", "0.05", "--", *command],
        env=env, stderr=subprocess.PIPE, text=True)
    heartbeat = tmp_path / "heartbeats" / "attempt-1" / "rank0.json"
    deadline = time.monotonic() + 60
    while not (heartbeat.exists() and json.loads(heartbeat.read_text())["step"] >= 3):
        assert time.monotonic() < deadline and supervisor.poll() is None, "the fake trainer never got going"
        time.sleep(0.05)
    supervisor.send_signal(signal.SIGTERM)
    _, stderr = supervisor.communicate(timeout=60)
    assert supervisor.returncode == 0, stderr
    assert int((tmp_path / "state.sigterm").read_text()) >= 3  # the trainer got SIGTERM and "saved"
    assert len(_attempts(tmp_path)) == 1  # a requested stop is not restarted
    assert read_incidents(tmp_path / "incidents.jsonl") == []


@pytest.mark.slow
def test_a_sigstopped_rank_is_detected_as_hung_and_the_job_restarts(tmp_path, fake_command):
    launcher = _two_rank_launcher(fake_command("steps=30", "step_time=0.05"), fake_command("steps=30", "step_time=0.05"))
    config = SupervisorConfig(incidents_path=tmp_path / "incidents.jsonl", heartbeat_dir=tmp_path / "heartbeats",
                              max_restarts=1, heartbeat_timeout_s=2.0, backoff_s=0.05, poll_interval_s=0.05)
    supervisor = Supervisor(launcher, config, environ={k: v for k, v in os.environ.items()
                                                       if not k.startswith("BAICHUAN_")})
    stopped = {}

    def stop_rank1_at_step_3():
        import threading

        def watch():
            beats_dir = tmp_path / "heartbeats" / "attempt-1"
            while 1 not in (beats := read_heartbeats(beats_dir)) or beats[1].step < 3:
                time.sleep(0.02)
            os.kill(beats[1].pid, signal.SIGSTOP)
            stopped.update(pid=beats[1].pid, step=beats[1].step)

        threading.Thread(target=watch, daemon=True).start()

    stop_rank1_at_step_3()
    assert supervisor.run() == 0
    [incident] = read_incidents(tmp_path / "incidents.jsonl")
    assert incident["cause"] == "hang" and incident["rank"] == 1
    assert float(incident["detail"].split("silent for ")[1].split(" s")[0]) >= 2.0  # not before the timeout
    assert incident["resumed_step"] == stopped["step"] and incident["steps_lost"] >= 0
    assert not _running(stopped["pid"])  # the stopped rank was killed, not left frozen
    assert (tmp_path / "state0").read_text() == (tmp_path / "state1").read_text() == "30"


@pytest.mark.slow
def test_a_rank_crash_is_caught_even_when_the_launcher_does_not_notice(tmp_path, fake_command, supervise):
    # `sh -c '... & ... & wait'` waits for the survivor and then exits 0: only the heartbeats show the crash.
    launcher = _two_rank_launcher(fake_command("steps=40", "step_time=0.05"),
                                  fake_command("steps=40", "step_time=0.05", "crash_at=3", "fail_attempts=1"))
    assert supervise(launcher, heartbeat_timeout_s=60.0) == 0
    [incident] = read_incidents(tmp_path / "incidents.jsonl")
    assert incident["cause"] == "exit" and incident["rank"] == 1 and incident["exit_code"] is None
    assert (tmp_path / "state0").read_text() == (tmp_path / "state1").read_text() == "40"


def test_a_config_error_exit_code_is_not_restarted(tmp_path, supervise):
    bad_config = [sys.executable, "-c", "import sys; sys.exit(2)"]
    assert supervise(bad_config, max_restarts=3) == 2
    [incident] = read_incidents(tmp_path / "incidents.jsonl")
    assert incident["exit_code"] == 2 and incident["gave_up"] is True
    (tmp_path / "incidents.jsonl").unlink()
    assert supervise(bad_config, max_restarts=3, fatal_exit_codes=()) == 1  # retried, then given up
    assert len(read_incidents(tmp_path / "incidents.jsonl")) == 4


def test_cli_flags_become_the_config(tmp_path, monkeypatch):
    from launch.run import parse_args

    monkeypatch.setenv("BAICHUAN_RUN_DIR", str(tmp_path))
    config, command = parse_args(["--max-restarts", "5", "--restart-window", "60", "--heartbeat-timeout", "7",
                                  "--startup-timeout", "9", "--backoff", "0.5", "--fatal-exit-codes", "2,3",
                                  "--", "deepspeed", "--num_gpus", "2", "--module", "pretrain.train", "a=1"])
    assert command == ["deepspeed", "--num_gpus", "2", "--module", "pretrain.train", "a=1"]
    assert (config.max_restarts, config.restart_window_s, config.heartbeat_timeout_s) == (5, 60.0, 7.0)
    assert (config.startup_timeout_s, config.backoff_s, config.fatal_exit_codes) == (9.0, 0.5, (2, 3))
    assert config.incidents_path == tmp_path / "incidents.jsonl"
    monkeypatch.delenv("BAICHUAN_RUN_DIR")
    config, _ = parse_args(["--fatal-exit-codes", "", "--", "x"])
    assert config.incidents_path.name == "incidents.jsonl" and config.fatal_exit_codes == ()


def test_ranks_in_their_own_session_are_killed_too(tmp_path, fake_command, supervise):
    # Like torchrun, this launcher starts its rank with start_new_session=True: out of the group's reach.
    launcher = [sys.executable, "-c",
                "import subprocess, sys; sys.exit(subprocess.Popen(sys.argv[1:], start_new_session=True).wait())",
                *fake_command("steps=9", "hang_at=2")]
    assert supervise(launcher, heartbeat_timeout_s=2.0, max_restarts=0) == 1
    [incident] = read_incidents(tmp_path / "incidents.jsonl")
    assert incident["cause"] == "hang" and incident["rank"] == 0
    rank = read_heartbeats(tmp_path / "heartbeats" / "attempt-1")[0]
    assert not _running(rank.pid)  # the hung rank did not survive its launcher
    assert (tmp_path / "state.sigterm").exists()  # it got the SIGTERM, not just the final SIGKILL
