"""A launched command and everything it spawns, as one POSIX process group that can be signalled and killed.

The launcher (`deepspeed`, `torchrun`, `srun`) starts the ranks; when the launcher dies first, the ranks
live on as orphans in the same group. Watching and killing the *group* rather than the launcher's pid is
what makes a restart leave no stray rank holding a GPU or a port. Some launchers put each rank in a session
of its own (torchrun does), out of the group's reach, so the descendants seen while the launcher lived are
tracked too and every signal goes to them as well.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

import psutil


class ProcessGroup:
    def __init__(self, command: Sequence[str], env: Mapping[str, str]) -> None:
        # start_new_session: the child leads a new session and process group (pgid == its pid), so
        # a Ctrl-C in the terminal reaches only the supervisor, which decides what to forward.
        self.process = subprocess.Popen(list(command), env=dict(env), start_new_session=True)
        self.pgid = self.process.pid
        # psutil.Process remembers the creation time, so a recycled pid is never signalled by mistake.
        self._tracked: dict[int, psutil.Process] = {}
        try:
            self._leader: psutil.Process | None = psutil.Process(self.pgid)
        except psutil.Error:
            self._leader = None

    def track_descendants(self) -> None:
        """Remember every process the launcher has started so far (call it while the launcher runs)."""
        try:
            children = self._leader.children(recursive=True) if self._leader is not None else []
        except psutil.Error:
            return
        for child in children:
            self._tracked.setdefault(child.pid, child)

    def track(self, pid: int) -> None:
        """Remember a process of this job found another way (a rank's heartbeat on this host)."""
        if pid not in self._tracked:
            try:
                self._tracked[pid] = psutil.Process(pid)
            except psutil.Error:
                pass

    def poll(self) -> int | None:
        """The launcher's exit code, or None while it runs."""
        return self.process.poll()

    def signal(self, signum: int) -> None:
        try:
            os.killpg(self.pgid, signum)
        except (ProcessLookupError, PermissionError):
            pass  # the group is already gone
        for proc in self._live_tracked():
            try:
                proc.send_signal(signum)
            except psutil.Error:
                pass

    def members(self) -> list[psutil.Process]:
        """Live (non-zombie) processes of the group and tracked descendants, the launcher included."""
        self.process.poll()  # reap the launcher if it exited, so it does not count as alive
        live = {proc.pid: proc for proc in self._live_tracked()}
        for proc in psutil.process_iter(["status"]):
            try:
                if os.getpgid(proc.pid) == self.pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                    live.setdefault(proc.pid, proc)
            except (ProcessLookupError, psutil.Error):
                continue
        return list(live.values())

    def _live_tracked(self) -> list[psutil.Process]:
        live = []
        for proc in self._tracked.values():
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    live.append(proc)
            except psutil.Error:
                continue
        return live

    def alive(self) -> bool:
        return bool(self.members())

    def wait_gone(self, timeout_s: float, poll_s: float = 0.05) -> bool:
        """Wait until no process of the group is left; returns False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.alive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)
        return True

    def terminate(self, grace_s: float) -> bool:
        """SIGTERM the group, SIGKILL what is left after `grace_s`; returns whether SIGTERM sufficed."""
        self.signal(signal.SIGTERM)
        # A stopped (SIGSTOP) process keeps SIGTERM pending forever; SIGCONT lets it act on it.
        self.signal(signal.SIGCONT)
        clean = self.wait_gone(grace_s)
        if not clean:
            self.kill()
        return clean

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait_gone(10.0)
        try:
            self.process.wait(timeout=10.0)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
            pass
