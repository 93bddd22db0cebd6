"""Turns the heartbeat files of one attempt into answers: is a rank hung, which one, how far did it get.

Staleness is measured on the supervisor's own monotonic clock, from the moment it saw a rank's file change,
so clock skew between nodes cannot fake or hide a hang.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

from pretrain.heartbeat import PHASES, HeartbeatRecord, read_heartbeats


@dataclass
class RankView:
    record: HeartbeatRecord
    changed_at: float  # supervisor monotonic time the record last changed
    exited: bool = False  # a rank on this host whose process is gone


@dataclass(frozen=True)
class Stall:
    """A hang: `rank` is the rank that stopped first (None: no rank ever beat within the startup timeout)."""

    rank: int | None
    last_step: int | None
    silent_s: float
    never_beat: bool = False  # `rank` never wrote a heartbeat while its peers did
    silent_ranks: tuple[int, ...] = ()  # every rank past the timeout (peers blocked behind `rank` included)


class HeartbeatMonitor:
    def __init__(self, directory: Path, started_at: float) -> None:
        self.directory = directory
        self.started_at = started_at
        self.ranks: dict[int, RankView] = {}
        self.first_exited_rank: int | None = None
        self.crashed_ranks: list[int] = []  # ranks on this host whose process ended without `finish()`
        self._exit_seen = False
        self._host = socket.gethostname()
        self.last_stall: Stall | None = None  # what the last stall() found (the incident's silent ranks)

    def poll(self, now: float) -> None:
        # Liveness first, files second: a rank found gone here wrote its last file (`done` on a clean
        # finish) before this check, so the read below sees it and a clean exit is never taken for a crash.
        gone = [rank for rank, view in self.ranks.items()
                if not view.exited and view.record.host == self._host and not _pid_alive(view.record.pid)]
        for rank, record in read_heartbeats(self.directory).items():
            view = self.ranks.get(rank)
            if view is None or view.record != record:
                self.ranks[rank] = RankView(record=record, changed_at=now)
        for rank in gone:
            self.ranks[rank].exited = True
        crashed = sorted(rank for rank in gone if not self.ranks[rank].record.done)
        self.crashed_ranks.extend(crashed)
        # On a crash the rank that died alone, before the launcher took the others down, is the culprit;
        # several found gone in the same poll cannot be told apart.
        if crashed and not self._exit_seen:
            self._exit_seen = True
            self.first_exited_rank = crashed[0] if len(crashed) == 1 else None

    def stall(self, now: float, heartbeat_timeout_s: float, startup_timeout_s: float) -> Stall | None:
        self.last_stall = self._stall(now, heartbeat_timeout_s, startup_timeout_s)
        return self.last_stall

    def _stall(self, now: float, heartbeat_timeout_s: float, startup_timeout_s: float) -> Stall | None:
        if not self.ranks:
            silent = now - self.started_at
            return Stall(None, None, silent) if silent > startup_timeout_s else None
        watched = [v for v in self.ranks.values() if not v.record.done and not v.exited]
        stale = [v for v in watched if now - v.changed_at > heartbeat_timeout_s]
        if not stale:
            return None
        # Ranks blocked in a collective behind a hung peer go quiet too. A process stopped by a signal
        # (SIGSTOP, a debugger) on this host is the culprit for sure; otherwise the one that got least far: the
        # lowest step, then the earliest phase of it (its peers wait in a later phase's collective), then the
        # one silent longest (beats are rate-limited, so this is a best guess).
        # Once one rank is past the timeout the hang is established; ranks in lock-step stop within a step of the
        # culprit, so every rank quiet for half the timeout is part of it. Choosing among the stale ones alone
        # would blame the peer whose last write happened to be earliest (it waits in backward for a rank stuck
        # in forward, and both wrote their phase within the same heartbeat interval).
        stale = [v for v in watched if now - v.changed_at > heartbeat_timeout_s / 2]
        frozen = [v for v in stale if v.record.host == self._host and _pid_frozen(v.record.pid)]
        if not frozen and self.missing_ranks:
            # Peers wait in their first collective for a rank that never got as far as its start-up beat.
            return Stall(self.missing_ranks[0], self.last_step, now - self.started_at, never_beat=True,
                         silent_ranks=tuple(self.missing_ranks))
        culprit = min(frozen or stale, key=lambda v: (v.record.step, _phase_order(v.record.phase), v.changed_at))
        return Stall(culprit.record.rank, self.last_step, now - culprit.changed_at,
                     silent_ranks=tuple(sorted(v.record.rank for v in stale)))

    def record(self, rank: int | None) -> HeartbeatRecord | None:
        """`rank`'s latest beat (None: unknown rank or none yet)."""
        view = self.ranks.get(rank) if rank is not None else None
        return view.record if view is not None else None

    def local_pids(self) -> list[int]:
        """Pids of the ranks that run on this host."""
        return [v.record.pid for v in self.ranks.values() if v.record.host == self._host]

    @property
    def missing_ranks(self) -> list[int]:
        """Ranks below the reported world size that never wrote a heartbeat."""
        world_size = max((v.record.world_size for v in self.ranks.values()), default=0)
        return sorted(set(range(world_size)) - set(self.ranks))

    @property
    def last_step(self) -> int | None:
        """The furthest step any rank reported (the progress a failure throws away)."""
        return max((v.record.step for v in self.ranks.values()), default=None)

    @property
    def traces(self) -> tuple[set[str], set[str]]:
        """The checkpoint directories and metrics files the ranks named in their beats (launch/progress.py)."""
        records = [v.record for v in self.ranks.values()]
        return ({r.checkpoint_dir for r in records if r.checkpoint_dir},
                {r.metrics_file for r in records if r.metrics_file})

    @property
    def start_step(self) -> int | None:
        """The step this attempt resumed from."""
        return min((v.record.start_step for v in self.ranks.values()), default=None)

    @property
    def start_time(self) -> float | None:
        """Wall time of this attempt's first start-up beat (≈ when process start and checkpoint load ended)."""
        return min((v.record.start_time for v in self.ranks.values()), default=None)

    @property
    def first_step_time(self) -> float | None:
        """Wall time of the first completed step past the resumed one, on any rank; None until then."""
        times = [v.record.first_step_time for v in self.ranks.values() if v.record.first_step_time is not None]
        return min(times, default=None)


def _phase_order(phase: str | None) -> int:
    return PHASES.index(phase) if phase in PHASES else len(PHASES)


def _pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _pid_frozen(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
    except psutil.Error:
        return False
