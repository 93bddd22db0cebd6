"""Which nodes the next attempt runs on: find a bad node after a failure, and relaunch without it.

A node is bad when the node check (usually `launch.doctor` run on it through srun or ssh) fails on it after a
crash, when it does not answer the check in time, or when the failing rank sat on it in two failures in a row.
A listed spare then takes its place; without one the node is dropped, as long as at most `max_dropped_nodes`
are gone and `min_world_size` ranks remain. How the next attempt is told depends on the launcher:

- `deepspeed --hostfile F`: a new hostfile without the bad host (spare added) replaces F in the command;
- `srun` (Slurm): `--exclude=<bad nodes and unused spares>` and `--nodes=<count>` on the srun step, and a
  fixed `torchrun --nnodes N` after it set to the new count;
- `torchrun --nnodes MIN:MAX` alone (one agent per node, started by hand or a cluster tool): nothing to
  rewrite — the surviving agents form a smaller world through elastic rendezvous by themselves (supervisor.py
  only keeps watching instead of tearing the job down).
"""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from launch.hostfile import Host, format_hostfile, parse_hostfile
from plumbing.slurm_nodelist import expand_nodelist
from plumbing.user_error import UserError

log = logging.getLogger("launch.run")

HOSTFILE_FLAGS = ("--hostfile", "-H")
SRUN_NODES_FLAGS = ("--nodes", "-N")
SRUN_EXCLUDE_FLAGS = ("--exclude", "-x")


class NodeError(UserError):
    """A node policy that cannot work with this command (one line, exit 2)."""


@dataclass
class NodePolicy:
    max_dropped_nodes: int = 0  # 0: never relaunch without a node (restart on the same nodes, as before)
    min_world_size: int = 1  # ranks; a relaunch that would go below it gives up instead
    spares: list[str] = field(default_factory=list)
    node_check: str | None = None  # command run per node after a failure, `{host}` replaced; non-zero = bad
    node_check_timeout_s: float = 120.0  # a node that does not answer the check in time is bad

    @property
    def enabled(self) -> bool:
        return self.max_dropped_nodes > 0 or bool(self.spares)


@dataclass(frozen=True)
class BadNode:
    host: str
    reason: str  # "node check failed: ...", "no answer to the node check within 120 s", "ranks died twice in a row"


# -- reading the command -------------------------------------------------------------------------------------
def _flag_value(command: Sequence[str], flags: Sequence[str], start: int = 0, stop: int | None = None) -> tuple[int, str] | None:
    """(index of the value, value) of the first `--flag V` / `--flag=V` in command[start:stop]."""
    stop = len(command) if stop is None else stop
    for i in range(start, stop):
        arg = command[i]
        for flag in flags:
            if arg == flag and i + 1 < stop:
                return i + 1, command[i + 1]
            if arg.startswith(flag + "="):
                return i, arg.split("=", 1)[1]
    return None


def _program_index(command: Sequence[str], name: str) -> int | None:
    for i, arg in enumerate(command):
        if Path(arg).name == name:
            return i
    return None


def elastic_nnodes(command: Sequence[str]) -> tuple[int, int] | None:
    """(MIN, MAX) of `torchrun --nnodes MIN:MAX --max-restarts N` when MIN < MAX and N >= 1, else None: only
    then do the agents re-form a smaller world themselves (with 0 restarts an agent exits on a failed worker)."""
    start = _program_index(command, "torchrun")
    if start is None:
        return None
    found = _flag_value(command, ("--nnodes",), start)
    restarts = _flag_value(command, ("--max-restarts", "--max_restarts"), start)
    if found is None or ":" not in found[1] or restarts is None or not restarts[1].isdigit() or int(restarts[1]) < 1:
        return None
    low, high = (int(part) for part in found[1].split(":", 1))
    return (low, high) if low < high else None


def launcher_kind(command: Sequence[str]) -> str | None:
    """'hostfile' (deepspeed --hostfile), 'srun', 'elastic' (torchrun MIN:MAX alone) or None."""
    if _program_index(command, "srun") is not None:
        return "srun"
    if _program_index(command, "deepspeed") is not None and _flag_value(command, HOSTFILE_FLAGS) is not None:
        return "hostfile"
    if elastic_nnodes(command) is not None:
        return "elastic"
    return None


def _ranks_per_node(command: Sequence[str]) -> int:
    for program, flags in (("torchrun", ("--nproc-per-node", "--nproc_per_node")), ("deepspeed", ("--num_gpus",))):
        start = _program_index(command, program)
        found = _flag_value(command, flags, start) if start is not None else None
        if found is not None and found[1].isdigit():
            return int(found[1])
    return 1


# -- the node set --------------------------------------------------------------------------------------------
class NodeSet:
    """The nodes of the run: active ones in rank order, unused spares, and those dropped with their reasons."""

    def __init__(self, command: Sequence[str], policy: NodePolicy, environ: Mapping[str, str], work_dir: Path):
        self.kind = launcher_kind(command)
        self.policy = policy
        self.work_dir = work_dir
        self.dropped: list[BadNode] = []  # every bad node (excluded from srun steps), replaced or not
        self.shrunk_by = 0  # nodes dropped without a spare in their place (bounded by max_dropped_nodes)
        self._previous_culprit: str | None = None
        if not policy.enabled:
            hosts = []  # nodes are not managed: the command runs as given
        elif self.kind == "hostfile":
            index, path = _flag_value(command, HOSTFILE_FLAGS)
            hosts = parse_hostfile(Path(path).read_text(), source=path) if Path(path).is_file() else None
            if hosts is None:
                raise NodeError(f"hostfile {path} not found — pass an existing `deepspeed --hostfile`")
        elif self.kind == "srun":
            nodelist = environ.get("SLURM_JOB_NODELIST", "")
            if not nodelist:
                raise NodeError("srun under --max-dropped-nodes/--spare-nodes needs $SLURM_JOB_NODELIST — run inside an allocation")
            slots = _ranks_per_node(command)
            hosts = [Host(name, slots) for name in expand_nodelist(nodelist)]
        else:
            hosts = []
        spare_names = set(policy.spares)
        self.active = [h for h in hosts if h.name not in spare_names]
        slots = self.active[0].slots if self.active else _ranks_per_node(command)
        self.spares = [Host(name, slots) for name in policy.spares]
        if policy.enabled and self.kind is None:
            raise NodeError("--max-dropped-nodes/--spare-nodes need `deepspeed --hostfile`, `srun` or "
                            "`torchrun --nnodes MIN:MAX` in the command — see docs/launch.md")
        if self.active and self.world_size < policy.min_world_size:
            raise NodeError(f"--min-world-size {policy.min_world_size} exceeds the {self.world_size} ranks of the listed nodes")

    @property
    def world_size(self) -> int:
        return sum(h.slots for h in self.active)

    def host_of_rank(self, rank: int | None) -> str | None:
        """Ranks are laid out node by node in list order (deepspeed's hostfile order, srun's node order)."""
        if rank is None:
            return None
        for host in self.active:
            if rank < host.slots:
                return host.name
            rank -= host.slots
        return None

    # -- finding the bad node ----------------------------------------------------------------------------
    def find_bad(self, culprit_host: str | None) -> list[BadNode]:
        """After a failure: nodes failing the check (or silent), else the culprit's node the second time running."""
        bad = self._check_nodes() if self.policy.node_check else []
        culprit = self._match(culprit_host)
        if not bad and culprit is not None and culprit == self._previous_culprit:
            bad = [BadNode(culprit, "its ranks died in two attempts in a row")]
        self._previous_culprit = culprit
        return bad

    def _match(self, host: str | None) -> str | None:
        """A heartbeat's hostname against the node names (`node01` vs `node01.cluster`)."""
        if host is None:
            return None
        for node in self.active:
            if host == node.name or host.split(".")[0] == node.name.split(".")[0]:
                return node.name
        return None

    def _check_nodes(self) -> list[BadNode]:
        # One thread per node (each only waits on its check), so 128 nodes take one check's time, not four.
        with ThreadPoolExecutor(max_workers=min(256, len(self.active) or 1)) as pool:
            verdicts = list(pool.map(self._check_one, [h.name for h in self.active]))
        return [verdict for verdict in verdicts if verdict is not None]

    def _check_one(self, host: str) -> BadNode | None:
        command = [part.replace("{host}", host) for part in shlex.split(self.policy.node_check or "")]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=self.policy.node_check_timeout_s)
        except subprocess.TimeoutExpired:
            return BadNode(host, f"no answer to the node check within {self.policy.node_check_timeout_s:g} s")
        except OSError as exc:
            return BadNode(host, f"node check could not start: {exc.strerror}")
        if result.returncode != 0:
            last = (result.stdout + result.stderr).strip().splitlines()[-1:] or [""]
            return BadNode(host, f"node check exited {result.returncode}: {last[0][:200]}")
        return None

    # -- dropping or replacing it ------------------------------------------------------------------------
    def remove(self, bad: list[BadNode]) -> str | None:
        """Take the bad nodes out (a spare in each one's place when there is one); None, or why it cannot."""
        for node in bad:
            index = next((i for i, h in enumerate(self.active) if h.name == node.host), None)
            if index is None:
                continue
            if self.spares:
                spare = self.spares.pop(0)
                log.warning("node %s is bad (%s): spare %s takes its place", node.host, node.reason, spare.name)
                self.active[index] = spare
            else:
                lost = self.active.pop(index)
                if self.shrunk_by + 1 > self.policy.max_dropped_nodes:
                    self.active.insert(index, lost)
                    return (f"node {node.host} is bad ({node.reason}), but {self.shrunk_by} node(s) are already "
                            f"dropped and --max-dropped-nodes is {self.policy.max_dropped_nodes}")
                if self.world_size < self.policy.min_world_size:
                    self.active.insert(index, lost)
                    return (f"node {node.host} is bad ({node.reason}); without it {self.world_size - lost.slots} "
                            f"rank(s) remain, fewer than --min-world-size {self.policy.min_world_size}")
                log.warning("node %s is bad (%s): relaunching without it on %d node(s), %d rank(s)", node.host,
                            node.reason, len(self.active), self.world_size)
                self.shrunk_by += 1
            self.dropped.append(node)
        self._previous_culprit = None
        return None

    def command_for(self, command: list[str], attempt: int) -> list[str]:
        """`command` pointed at the active nodes (unchanged for a launcher whose nodes are not managed here)."""
        if not self.policy.enabled or self.kind not in ("hostfile", "srun"):
            return command
        command = list(command)
        if self.kind == "hostfile":
            path = self.work_dir / f"hostfile.attempt-{attempt}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(format_hostfile(self.active))
            index, _ = _flag_value(command, HOSTFILE_FLAGS)
            command[index] = (f"{command[index].split('=', 1)[0]}={path}" if "=" in command[index]
                              and command[index].startswith("-") else str(path))
            deepspeed = _program_index(command, "deepspeed")
            command = self._follow_master(command, ("--master_addr",), deepspeed)
            return _set_flag(command, ("--num_nodes",), str(len(self.active)), deepspeed)
        srun = _program_index(command, "srun")
        inside = _srun_options_end(command, srun)
        excluded = [node.host for node in self.dropped] + [h.name for h in self.spares]
        command = _set_flag(command, SRUN_NODES_FLAGS, str(len(self.active)), srun, inside, add=True)
        inside = _srun_options_end(command, srun)
        if excluded:
            command = _set_flag(command, SRUN_EXCLUDE_FLAGS, ",".join(excluded), srun, inside, add=True)
        torchrun = _program_index(command, "torchrun")
        found = _flag_value(command, ("--nnodes",), torchrun) if torchrun is not None else None
        if found is not None and ":" not in found[1]:
            command = _set_flag(command, ("--nnodes",), str(len(self.active)), torchrun)
        if torchrun is not None:
            command = self._follow_master(command, ("--rdzv-endpoint", "--rdzv_endpoint", "--master-addr",
                                                    "--master_addr"), torchrun)
        return command

    def _follow_master(self, command: list[str], flags: Sequence[str], start: int | None) -> list[str]:
        """The rendezvous / master address moves to the first active node when its node was left out."""
        found = _flag_value(command, flags, 0 if start is None else start)
        if found is None:
            return command
        host, colon, port = found[1].rpartition(":") if ":" in found[1] else (found[1], "", "")
        if host not in {node.host for node in self.dropped}:
            return command
        moved = f"{self.active[0].name}{colon}{port}"
        log.warning("the rendezvous host %s was left out: using %s", host, moved)
        return _set_flag(command, flags, moved, start)


def _srun_options_end(command: Sequence[str], srun: int) -> int:
    """Where srun's own options end: at the program it starts (torchrun or python; the end otherwise), so a
    training override is never taken for an srun option."""
    for i in range(srun + 1, len(command)):
        if Path(command[i]).name in ("torchrun", "python", "python3") or command[i].endswith("/python"):
            return i
    return len(command)


def _set_flag(command: list[str], flags: Sequence[str], value: str, start: int | None, stop: int | None = None,
              add: bool = False) -> list[str]:
    """Replace the value of the first of `flags` in command[start:stop]; insert `flags[0]=value` after
    command[start] when absent and `add`."""
    start = 0 if start is None else start
    found = _flag_value(command, flags, start, stop)
    if found is None:
        return [*command[:start + 1], f"{flags[0]}={value}", *command[start + 1:]] if add else command
    index, _ = found
    command = list(command)
    command[index] = f"{command[index].split('=', 1)[0]}={value}" if command[index].startswith("-") else value
    return command
