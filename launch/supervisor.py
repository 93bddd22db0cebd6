"""The restart loop: run the launcher, watch it, and on a crash or a hang kill it all and resume.

One attempt = one launch of the command in its own process group with a fresh heartbeat directory.
An attempt ends in one of three ways: the launcher exits 0 (done), it fails (non-zero exit, a rank that
vanishes without finishing, or a heartbeat that goes stale), or the supervisor is asked to stop
(SIGTERM/SIGINT, forwarded to the group).
After a failure the group is torn down, the loop waits with exponential backoff and relaunches with
`train.resume=auto`, unless `max_restarts` restarts already happened within `restart_window_s`.
With a node policy (`--max-dropped-nodes`, `--spare-nodes`) a bad node is found after the failure and the
relaunch runs without it or on a spare (launch/nodes.py); under elastic torchrun (`--nnodes MIN:MAX`) a lost
node is left to the agents' rendezvous and the supervisor keeps watching the smaller world.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import signal
import tempfile
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from launch.heartbeat_monitor import HeartbeatMonitor
from launch.incidents import INCIDENTS_ENV, RUN_DIR_ENV, Incident, IncidentLog, localize
from launch.nodes import NodePolicy, NodeSet
from launch.process_group import ProcessGroup
from launch.progress import furthest_step
from plumbing.user_error import UserError
from pretrain.heartbeat import HEARTBEAT_DIR_ENV, heartbeat_path, read_heartbeats
from pretrain.incidents import NODE_LOST

log = logging.getLogger("launch.run")

ATTEMPT_ENV = "BAICHUAN_ATTEMPT"
RESUME_AUTO = "train.resume=auto"
EXIT_GAVE_UP = 1


class LaunchError(UserError):
    """A problem the user can fix (e.g. the command does not exist): one line, exit 2."""


@dataclass
class SupervisorConfig:
    incidents_path: Path
    max_restarts: int = 3
    restart_window_s: float = 3600.0
    heartbeat_timeout_s: float = 600.0
    startup_timeout_s: float = 1200.0
    backoff_s: float = 5.0
    max_backoff_s: float = 300.0
    kill_grace_s: float = 10.0  # after a failure: SIGTERM → SIGKILL
    stop_grace_s: float = 120.0  # after a forwarded SIGTERM/SIGINT: time to save a checkpoint and exit
    poll_interval_s: float = 1.0
    # Launcher exit codes that are not worth a restart: 2 is the project's "bad config / bad input" code.
    fatal_exit_codes: tuple[int, ...] = (2,)
    heartbeat_dir: Path | None = None  # None: $BAICHUAN_RUN_DIR/heartbeats, else a temporary directory
    nodes: NodePolicy = field(default_factory=NodePolicy)  # when to relaunch without a node (off by default)


@dataclass
class AttemptResult:
    exit_code: int | None  # the launcher's exit code (None when it was killed for a hang)
    incident: Incident | None = None  # set when the attempt failed
    stopped: bool = False  # ended by a forwarded stop signal
    host: str | None = None  # the host of the failing rank, from its heartbeat


def with_resume_auto(command: Sequence[str]) -> list[str]:
    """The command with `train.resume=auto`: appended, or replacing an explicit `train.resume=...`
    (restarting from the original checkpoint would throw away everything trained since)."""
    out, replaced = [], False
    for arg in command:
        if arg.lstrip("+").startswith("train.resume="):
            out.append(RESUME_AUTO)
            replaced = True
        else:
            out.append(arg)
    return out if replaced else [*out, RESUME_AUTO]


class Supervisor:
    def __init__(self, command: Sequence[str], config: SupervisorConfig, environ: Mapping[str, str] = os.environ):
        if not command:
            raise LaunchError("no command to supervise — put it after `--`, e.g. `-- deepspeed ... --module pretrain.train`")
        self.command = list(command)
        self.config = config
        self.environ = dict(environ)
        self.incidents = IncidentLog(config.incidents_path)
        self._group: ProcessGroup | None = None
        self._stop_signum: int | None = None
        # Generated hostfiles live beside the incidents, where the user looks after a node was dropped.
        self.nodes = NodeSet(self.command, config.nodes, self.environ, config.incidents_path.parent / "hostfiles")

    # -- signals -------------------------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, lambda signum, _frame: self.request_stop(signum))
        signal.signal(signal.SIGINT, lambda signum, _frame: self.request_stop(signum))

    def request_stop(self, signum: int) -> None:
        """First signal: forward it to the group and stop restarting. Second: SIGKILL the group."""
        group = self._group
        if self._stop_signum is None:
            self._stop_signum = signum
            if group is not None:
                group.signal(signum)
        elif group is not None:
            group.signal(signal.SIGKILL)

    # -- the loop ------------------------------------------------------------------------------------------
    def run(self) -> int:
        base, temporary = self._heartbeat_base()
        restarts: deque[float] = deque()  # monotonic times of the restarts inside the window
        pending: Incident | None = None  # the last failure, completed by the next attempt's heartbeats
        try:
            for attempt in itertools.count(1):
                command = self.command if attempt == 1 else with_resume_auto(self.command)
                command = self.nodes.command_for(command, attempt)
                result = self._run_attempt(attempt, command, base / f"attempt-{attempt}", pending)
                pending = None
                if result.stopped:
                    return result.exit_code if result.exit_code is not None else 1
                if result.incident is None:
                    log.info("attempt %d finished cleanly", attempt)
                    return 0
                incident = result.incident
                final = EXIT_GAVE_UP if incident.gave_up else self._exit_code_instead_of_restart(incident, restarts)
                if final is None:
                    final = self._leave_out_bad_nodes(incident, result.host)
                if final is None:
                    delay = min(self.config.backoff_s * 2 ** (len(restarts) - 1), self.config.max_backoff_s)
                    log.warning("attempt %d failed (%s); restart %d/%d in %.1f s with %s", attempt,
                                _describe(incident), len(restarts), self.config.max_restarts, delay, RESUME_AUTO)
                    incident.phases["backoff_s"] = round(self._sleep(delay), 3)
                    if self._stop_signum is not None:
                        final = 128 + self._stop_signum
                if final is not None:
                    self.incidents.append(incident)
                    return final
                pending = incident
            raise AssertionError("unreachable")
        finally:
            if temporary:
                shutil.rmtree(base, ignore_errors=True)

    def _exit_code_instead_of_restart(self, incident: Incident, restarts: deque[float]) -> int | None:
        """None to restart (the restart is counted), else the supervisor's exit code."""
        if self._stop_signum is not None:
            return 128 + self._stop_signum
        if incident.exit_code in self.config.fatal_exit_codes:
            incident.gave_up = True
            log.error("error: the command exited with code %d, which marks a usage or configuration error — "
                      "fix it and relaunch (a restart would fail the same way)", incident.exit_code)
            return incident.exit_code
        now = time.monotonic()
        while restarts and now - restarts[0] > self.config.restart_window_s:
            restarts.popleft()
        if len(restarts) >= self.config.max_restarts:
            incident.gave_up = True
            log.error("error: giving up after %d restart(s) within %.0f s (last failure: %s) — see %s",
                      len(restarts), self.config.restart_window_s, _describe(incident), self.config.incidents_path)
            return EXIT_GAVE_UP
        restarts.append(now)
        return None

    def _leave_out_bad_nodes(self, incident: Incident, host: str | None) -> int | None:
        """After a failure that will be restarted: drop or replace a bad node; EXIT_GAVE_UP when that is not
        allowed (the same nodes would fail the same way)."""
        if not self.nodes.policy.enabled or self.nodes.kind not in ("hostfile", "srun"):
            return None
        # deepspeed numbers ranks node by node in hostfile order; elsewhere the rank's heartbeat names its host.
        host = self.nodes.host_of_rank(incident.rank) if self.nodes.kind == "hostfile" else host
        t0 = time.time()
        bad = self.nodes.find_bad(host)
        if self.nodes.policy.node_check:
            incident.phases["node_check_s"] = round(time.time() - t0, 3)
        if not bad:
            return None
        refused = self.nodes.remove(bad)
        names = ", ".join(f"{b.host} ({b.reason})" for b in bad)
        if refused:
            incident.gave_up = True
            incident.detail += f"; bad node {names}"
            log.error("error: %s — giving up; see %s", refused, self.config.incidents_path)
            return EXIT_GAVE_UP
        incident.dropped_nodes = [b.host for b in bad]
        incident.detail += f"; relaunched without {names} on {len(self.nodes.active)} node(s), {self.nodes.world_size} rank(s)"
        return None

    def _run_attempt(self, attempt: int, command: list[str], heartbeat_dir: Path, pending: Incident | None) -> AttemptResult:
        shutil.rmtree(heartbeat_dir, ignore_errors=True)  # beats of an earlier supervisor run must not count
        heartbeat_dir.mkdir(parents=True)
        env = {
            **self.environ,
            HEARTBEAT_DIR_ENV: str(heartbeat_dir),
            ATTEMPT_ENV: str(attempt),
            INCIDENTS_ENV: str(self.config.incidents_path),
        }
        log.info("attempt %d: %s", attempt, " ".join(command))
        spawned_at = time.time()
        try:
            group = ProcessGroup(command, env)
        except (FileNotFoundError, PermissionError) as exc:
            if pending is not None:
                self.incidents.append(pending)
            raise LaunchError(f"cannot start {command[0]!r}: {exc.strerror} — check the command after `--`") from exc
        self._group = group
        if self._stop_signum is not None:  # a stop raced with the spawn
            group.signal(self._stop_signum)
        monitor = HeartbeatMonitor(heartbeat_dir, started_at=time.monotonic())
        old_rounds: set[tuple[str, int]] = set()  # (host, pid) of the ranks of earlier elastic rounds
        try:
            while True:
                group.track_descendants()
                if old_rounds:
                    _forget_beats_of(heartbeat_dir, old_rounds)
                monitor.poll(time.monotonic())
                for pid in monitor.local_pids():
                    group.track(pid)
                if pending is not None and _update_recovery(pending, monitor, spawned_at):
                    log.info("recovered: %s", _describe(pending))
                    self.incidents.append(pending)
                    pending = None
                if self._stop_signum is not None:
                    return self._stop(group)
                code = group.poll()
                if code == 0:
                    if group.alive():
                        group.terminate(self.config.kill_grace_s)  # stragglers of a finished launcher
                    return AttemptResult(exit_code=0)
                incident = self._detect_failure(attempt, code, monitor)
                if incident is None and old_rounds:
                    incident = self._elastic_world_too_small(attempt, monitor)
                if incident is not None:
                    localize(incident, monitor)
                    host = incident.host
                    if code is None and self.nodes.kind == "elastic" and monitor.ranks and not incident.gave_up:
                        # The agents re-form a smaller world by themselves: watch it instead of tearing it down.
                        # A round in which no rank ever beat (start-up timeout) is torn down as before.
                        if pending is not None:
                            self.incidents.append(pending)
                        pending = self._elastic_loss(incident, heartbeat_dir)
                        # A survivor of the old round may still beat (its phase) before its collective fails.
                        old_rounds |= {(v.record.host, v.record.pid) for v in monitor.ranks.values()}
                        _forget_beats_of(heartbeat_dir, old_rounds)
                        monitor = HeartbeatMonitor(heartbeat_dir, started_at=time.monotonic())
                        spawned_at = time.time()
                        continue
                    t0 = time.time()
                    group.terminate(self.config.kill_grace_s)
                    incident.phases["teardown_s"] = round(time.time() - t0, 3)
                    # Woken by SIGCONT + SIGTERM, a hung job may still finish a step and checkpoint on its
                    # way out; count that progress too.
                    monitor.poll(time.monotonic())
                    incident.last_step = furthest_step(monitor.last_step, *monitor.traces)
                    return AttemptResult(exit_code=code, incident=incident, host=host)
                time.sleep(self.config.poll_interval_s)
        finally:
            self._group = None
            if pending is not None:  # this attempt ended before recovering: record what is known
                self.incidents.append(pending)

    def _elastic_loss(self, incident: Incident, heartbeat_dir: Path) -> Incident:
        """A rank of an elastic torchrun job died or went silent while the launcher runs: the surviving agents
        restart their workers in a new rendezvous round (train.resume=auto is the trainer's default). The old
        round's beats are forgotten so the next round is watched from scratch; a round that never beats is
        caught by the start-up timeout, a launcher that gives up (fewer than MIN nodes) by its exit."""
        incident.last_step = furthest_step(incident.last_step, *self._traces_of(heartbeat_dir))
        incident.cause = NODE_LOST
        incident.detail += "; elastic rendezvous continues on the remaining nodes"
        log.warning("%s", _describe(incident))
        return incident

    def _elastic_world_too_small(self, attempt: int, monitor: HeartbeatMonitor) -> Incident | None:
        """The agents re-formed a world smaller than --min-world-size: stop there (gave_up)."""
        world = max((v.record.world_size for v in monitor.ranks.values()), default=None)
        if world is None or world >= self.nodes.policy.min_world_size:
            return None
        log.error("error: the elastic rendezvous re-formed %d rank(s), fewer than --min-world-size %d — giving up",
                  world, self.nodes.policy.min_world_size)
        return Incident(cause="exit", attempt=attempt, detected_at=time.time(), last_step=monitor.last_step,
                        gave_up=True, detail=f"elastic world of {world} rank(s) is below --min-world-size "
                                             f"{self.nodes.policy.min_world_size}")

    @staticmethod
    def _traces_of(heartbeat_dir: Path) -> tuple[set[str], set[str]]:
        monitor = HeartbeatMonitor(heartbeat_dir, started_at=time.monotonic())
        monitor.poll(time.monotonic())
        return monitor.traces

    def _detect_failure(self, attempt: int, code: int | None, monitor: HeartbeatMonitor) -> Incident | None:
        if code is not None:
            monitor.poll(time.monotonic())  # the last beats may have landed between the poll and the exit
            return Incident(cause="exit", attempt=attempt, detected_at=time.time(), exit_code=code,
                            rank=monitor.first_exited_rank, last_step=monitor.last_step,
                            detail=f"launcher exited with code {code}")
        if monitor.crashed_ranks:
            # A rank that has beaten and then vanished without finish() crashed; its launcher would notice
            # only after its own poll and after tearing the survivors down, so act now.
            # Several ranks found gone in one poll (the launcher already took the others down) leave the
            # culprit unknown: say so rather than guess.
            rank = monitor.first_exited_rank
            gone = f"rank {rank}" if rank is not None else f"ranks {monitor.crashed_ranks}"
            return Incident(cause="exit", attempt=attempt, detected_at=time.time(), rank=rank,
                            last_step=monitor.last_step, detail=f"{gone} exited without finishing while the launcher ran")
        stall = monitor.stall(time.monotonic(), self.config.heartbeat_timeout_s, self.config.startup_timeout_s)
        if stall is None:
            return None
        if stall.rank is None:
            detail = f"no heartbeat within the start-up timeout ({self.config.startup_timeout_s:g} s)"
        elif stall.never_beat:
            detail = (f"rank {stall.rank} never beat and its peers are silent "
                      f"(heartbeat timeout {self.config.heartbeat_timeout_s:g} s)")
        else:
            detail = f"rank {stall.rank} silent for {stall.silent_s:.1f} s (heartbeat timeout {self.config.heartbeat_timeout_s:g} s)"
        return Incident(cause="hang", attempt=attempt, detected_at=time.time(), rank=stall.rank,
                        last_step=monitor.last_step, detail=detail)

    def _stop(self, group: ProcessGroup) -> AttemptResult:
        signum = self._stop_signum
        assert signum is not None
        log.warning("received %s: forwarded to the process group; waiting up to %.0f s for it to exit",
                    signal.Signals(signum).name, self.config.stop_grace_s)
        clean = group.wait_gone(self.config.stop_grace_s)
        if not clean:
            log.error("process group still alive after %.0f s: killing it", self.config.stop_grace_s)
            group.kill()
        code = group.poll()
        # The launcher itself often dies of the forwarded signal while the ranks save and exit 0
        # (DeepSpeed's runner does), so "everything left in time" is the success criterion.
        if clean and code in (0, -signum, 128 + signum):
            return AttemptResult(exit_code=0, stopped=True)
        return AttemptResult(exit_code=code if code and code > 0 else 128 + signum, stopped=True)

    # -- helpers -------------------------------------------------------------------------------------------
    def _sleep(self, seconds: float) -> float:
        """Sleep in small slices so a stop signal ends the wait; returns the time actually waited."""
        start = time.monotonic()
        while self._stop_signum is None and time.monotonic() - start < seconds:
            time.sleep(min(0.05, seconds))
        return time.monotonic() - start

    def _heartbeat_base(self) -> tuple[Path, bool]:
        if self.config.heartbeat_dir is not None:
            return self.config.heartbeat_dir, False
        run_dir = self.environ.get(RUN_DIR_ENV)
        if run_dir:
            return Path(run_dir) / "heartbeats", False
        return Path(tempfile.mkdtemp(prefix="baichuan-heartbeats-")), True


def _forget_beats_of(heartbeat_dir: Path, processes: set[tuple[str, int]]) -> None:
    """Remove the heartbeat files written by `processes` (host, pid): ranks of an elastic round that is over."""
    for rank, record in read_heartbeats(heartbeat_dir).items():
        if (record.host, record.pid) in processes:
            heartbeat_path(heartbeat_dir, rank).unlink(missing_ok=True)


def _update_recovery(incident: Incident, monitor: HeartbeatMonitor, spawned_at: float) -> bool:
    """Fill the recovery fields from the new attempt's heartbeats; True once its first step completed."""
    if monitor.start_step is not None:
        # Refreshed until the first step completes: start-up beats arrive one by one and the resumed step is
        # the lowest of them; read at the first beat alone it was sometimes a faster rank's.
        incident.resumed_step = monitor.start_step
        if incident.last_step is not None:
            incident.steps_lost = max(0, incident.last_step - monitor.start_step)
        incident.phases["startup_s"] = round(monitor.start_time - spawned_at, 3)
    first_step_time = monitor.first_step_time
    if first_step_time is None or monitor.start_time is None:
        return False
    incident.phases["first_step_s"] = round(first_step_time - monitor.start_time, 3)
    incident.time_to_recover_s = round(first_step_time - incident.detected_at, 3)
    return True


def _describe(incident: Incident) -> str:
    parts = [incident.cause, incident.detail]
    if incident.last_step is not None:
        parts.append(f"last step {incident.last_step}")
    if incident.steps_lost is not None:
        parts.append(f"{incident.steps_lost} step(s) lost")
    if incident.time_to_recover_s is not None:
        parts.append(f"recovered in {incident.time_to_recover_s:.1f} s")
    return ", ".join(p for p in parts if p)
