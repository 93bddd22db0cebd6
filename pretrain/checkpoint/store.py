"""Checkpoints on disk: atomic save, verified resume, retention.

Layout of `train.checkpoint_dir`:

    latest                  text file naming the newest committed checkpoint (moved last, atomically)
    step_00000040/
        deepspeed/          engine state written by DeepSpeed (module, optimizer partitions, scheduler)
        rng/rank<R>.json    every rank's RNG states
        trainer_state.json  step, consumed tokens, data-loader state, loss window, world size, ZeRO stage
        config.yaml         the resolved config the run used
        tokenizer.model     copied when the data names one, so the checkpoint is self-contained
        manifest.json       size, digest and writing rank of all of the above — written last
    .tmp_step_00000060/     an unfinished save: never trusted, removed by the next save

A save writes into the `.tmp_` directory; every rank digests what it writes while writing it (shard_writer.py);
once every rank's bytes are durable the ranks' reports are gathered in one collective, rank 0 writes the manifest
from them, renames the directory into place, and only then moves `latest`. A crash at any point leaves either the
previous checkpoint as the newest valid one or the new one complete. With `background=True` the bytes are written
while training goes on and `poll` commits the save at the first step end at which every rank's are durable; at
most one save is in flight (the next `save` first finishes the previous one).

Verification on resume is collective too: each rank checks the files it will load and the ranks agree before
anything is loaded, so a corrupt file found by any rank makes every rank skip that checkpoint together.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from plumbing.atomic_write import atomic_write_text
from pretrain.checkpoint.digest import IoTimes
from pretrain.checkpoint.manifest import build_manifest, verify_share, write_manifest
from pretrain.checkpoint.rng import capture_rng_state
from pretrain.checkpoint.shard_writer import ShardWriter
from pretrain.distributed.collectives import Collectives

log = logging.getLogger(__name__)

STEP_DIR = re.compile(r"^step_(\d{8})$")
ENGINE_TAG = "deepspeed"


class EngineState(Protocol):
    """What the store calls on a step engine (pretrain.engine.StepEngine provides it): the store is below the
    engine and knows only this."""

    def save(self, checkpoint_dir: Path) -> None:
        """Write this rank's share of the engine state under `checkpoint_dir`/ENGINE_TAG (collective), through
        the store's ShardWriter when the engine was built with one."""
TRAINER_STATE = "trainer_state.json"
CONFIG_FILE = "config.yaml"
LATEST = "latest"


def step_dir_name(step: int) -> str:
    return f"step_{step:08d}"


def json_bytes(obj) -> bytes:
    """The text `plumbing.atomic_write.atomic_write_json(..., indent=1, sort_keys=True)` writes."""
    return (json.dumps(obj, indent=1, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


class CheckpointNotFound(FileNotFoundError):
    """`train.resume=PATH` names something that is not a loadable checkpoint."""


@dataclass(frozen=True)
class CheckpointRef:
    path: Path
    step: int


@dataclass
class SaveReport:
    """Where one save's time went (seconds; per-rank parts are the slowest rank's), for the log and the bench."""

    step: int
    stall: float = 0.0  # the training thread blocked in save/poll/finish for this checkpoint
    engine_save: float = 0.0  # inside the step engine's save (DeepSpeed, its barriers; the snapshot when async)
    snapshot: float = 0.0  # async: the host copy of the state (inside engine_save)
    serialize: float = 0.0
    write: float = 0.0
    digest: float = 0.0
    fsync: float = 0.0
    barrier: float = 0.0  # barriers and the gather of the ranks' reports (waiting for the slowest rank)
    manifest: float = 0.0  # rank 0: manifest (incl. reading back unreported files), rename, `latest`, retention
    durable_after: float = 0.0  # from the start of the save to its commit
    bytes: int = 0
    read_back_bytes: int = 0

    def describe(self) -> str:
        parts = ", ".join(f"{name} {getattr(self, name):.3f}" for name in
                          ("engine_save", "snapshot", "serialize", "write", "digest", "fsync", "barrier",
                           "manifest"))
        return (f"step {self.step}: stall {self.stall:.3f} s ({parts}); {self.bytes / 2**30:.2f} GiB durable after "
                f"{self.durable_after:.3f} s; rank 0 read back {self.read_back_bytes} B")


@dataclass
class _InFlight:
    step: int
    tmp: Path
    final: Path
    started: float
    report: SaveReport = field(init=False)

    def __post_init__(self):
        self.report = SaveReport(self.step)


class CheckpointStore:
    def __init__(self, root: str | Path, keep_last: int = 3, keep_every: int = 0, checksums: bool = True,
                 background: bool = False):
        self.root = Path(root)
        self.keep_last = keep_last
        self.keep_every = keep_every
        self.checksums = checksums
        self.writer = ShardWriter(background)  # the step engine writes its files through it
        self.in_flight: _InFlight | None = None
        self.last_report: SaveReport | None = None

    # ---- discovery -------------------------------------------------------------------------------------
    def committed(self) -> list[CheckpointRef]:
        """Every `step_N` directory, newest first (not yet verified)."""
        if not self.root.is_dir():
            return []
        refs = [
            CheckpointRef(path, int(match.group(1)))
            for path in self.root.iterdir()
            if path.is_dir() and (match := STEP_DIR.match(path.name))
        ]
        return sorted(refs, key=lambda ref: ref.step, reverse=True)

    def verify(self, path: Path, collectives: Collectives | None = None) -> str | None:
        """None when every rank finds its share of `path` whole; otherwise every rank gets the same reason.
        Collective when `collectives` spans ranks: one all-gather of the verdicts, so the ranks agree."""
        group = collectives or Collectives.solo_process()
        mine = verify_share(path, self.checksums, group.rank(), group.world_size())
        if mine is not None and group.world_size() > 1:
            log.warning("rank %d: checkpoint %s fails verification: %s", group.rank(), path, mine)
        verdicts = group.all_gather_object(mine)
        found: dict[str, int] = {}
        for rank, problem in enumerate(verdicts):
            if problem is not None:
                found.setdefault(problem, rank)
        if not found:
            return None
        if group.world_size() == 1:
            return next(iter(found))
        return "; ".join(f"{problem} (found by rank {rank})" for problem, rank in found.items())

    def newest_valid(self, collectives: Collectives | None = None) -> CheckpointRef | None:
        """The newest checkpoint that verifies; torn or corrupt ones are reported and skipped (by every rank
        together: rank 0's listing is the one every rank walks)."""
        group = collectives or Collectives.solo_process()
        for ref in group.broadcast_object(self.committed() if group.rank() == 0 else None):
            problem = self.verify(ref.path, group)
            if problem is None:
                return ref
            if group.rank() == 0:
                log.warning("skipping checkpoint %s: %s", ref.path, problem)
        return None

    def resolve(self, resume: str, collectives: Collectives | None = None) -> CheckpointRef | None:
        """`none` → start fresh; `auto` → newest valid (or fresh); anything else is a checkpoint path."""
        if resume == "none":
            return None
        if resume == "auto":
            return self.newest_valid(collectives)
        ref = locate(resume)
        problem = self.verify(ref.path, collectives)
        if problem:
            raise CheckpointNotFound(f"checkpoint {resume} cannot be loaded: {problem}")
        return ref

    # ---- saving (called on every rank) -----------------------------------------------------------------
    def save(self, engine: EngineState, step: int, trainer_state: dict, config_yaml: str,
             collectives: Collectives | None = None, tokenizer: Path | None = None) -> Path:
        """Write checkpoint `step`; committed before returning unless the writer is in the background."""
        group = collectives or Collectives.solo_process()
        self.finish(group)  # at most one save in flight (its wait counts as that save's stall)
        blocked = time.perf_counter()
        rank = group.rank()
        save = _InFlight(step, self.root / f".tmp_{step_dir_name(step)}", self.root / step_dir_name(step),
                         time.perf_counter())
        if rank == 0:
            self.root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(save.tmp, ignore_errors=True)
        self._barrier(group, save.report)
        self.writer.begin(save.tmp)
        started = time.perf_counter()
        engine.save(save.tmp)  # the step engine's own state, under tmp/ENGINE_TAG, through self.writer
        save.report.engine_save = time.perf_counter() - started
        self.writer.write_bytes(save.tmp / "rng" / f"rank{rank}.json", json_bytes(capture_rng_state()))
        if rank == 0:  # rank 0's files may land before the others finish: the commit waits for every rank
            self.writer.write_bytes(save.tmp / TRAINER_STATE, json_bytes(trainer_state))
            self.writer.write_bytes(save.tmp / CONFIG_FILE, config_yaml.encode("utf-8"))
            if tokenizer is not None and tokenizer.is_file():
                self.writer.write_bytes(save.tmp / "tokenizer.model", tokenizer.read_bytes())
        self.in_flight = save
        save.report.stall += time.perf_counter() - blocked
        if not self.writer.background:
            self.finish(group)
        return save.final

    def writing(self) -> bool:
        """True while this rank's bytes of the save in flight are not all durable yet."""
        return self.in_flight is not None and not self.writer.done()

    def poll(self, collectives: Collectives | None = None) -> bool:
        """Commit the save in flight once every rank's bytes are durable. Every rank calls it at the same step
        (they all know a save is in flight); it costs one small all-reduce per step while one is. The training
        loop does not call it: its ranks vote with `writing()` inside the step's own all-reduce and `finish`."""
        if self.in_flight is None:
            return False
        group = collectives or Collectives.solo_process()
        blocked = time.perf_counter()
        report = self.in_flight.report
        pending = group.any(self.writing())
        report.stall += time.perf_counter() - blocked
        if pending:
            return False
        self.finish(group)
        return True

    def finish(self, collectives: Collectives | None = None) -> Path | None:
        """Wait for the save in flight (if any) and commit it: gather every rank's report, rank 0 writes the
        manifest, renames the directory into place and moves `latest`. Raises on every rank if any rank's
        write failed (the `.tmp_` directory then stays uncommitted)."""
        save = self.in_flight
        if save is None:
            return None
        self.in_flight = None
        group = collectives or Collectives.solo_process()
        blocked = time.perf_counter()
        report = save.report
        share = self.writer.wait()
        gathered_at = time.perf_counter()
        shares = group.all_gather_object((share.files, share.times.as_dict(), share.error))
        report.barrier += time.perf_counter() - gathered_at
        errors = [f"rank {rank}: {error}" for rank, (_, _, error) in enumerate(shares) if error]
        if errors:
            raise RuntimeError(f"checkpoint step {save.step} not committed: {'; '.join(errors)}")
        for name in IoTimes.PARTS:
            setattr(report, name, max(times[name] for _, times, _ in shares))
        report.bytes = sum(entry["size"] for files, _, _ in shares for entry in files.values())
        if group.rank() == 0:
            committing = time.perf_counter()
            built = build_manifest(save.tmp, save.step, [files for files, _, _ in shares])
            write_manifest(save.tmp, built.manifest)
            if save.final.exists():  # an earlier run saved this step and then crashed before moving `latest`
                shutil.rmtree(save.final)
            save.tmp.rename(save.final)
            self._point_latest(save.final.name)
            self._prune()
            report.manifest = time.perf_counter() - committing
            report.read_back_bytes = built.read_back_bytes
            report.bytes += built.read_back_bytes
        self._barrier(group, report)
        report.durable_after = time.perf_counter() - save.started
        report.stall += time.perf_counter() - blocked
        self.last_report = report
        if self.writer.background and group.rank() == 0:
            log.info("committed checkpoint %s (%s)", save.final, report.describe())
        return save.final

    @staticmethod
    def _barrier(group: Collectives, report: SaveReport) -> None:
        started = time.perf_counter()
        group.barrier()
        report.barrier += time.perf_counter() - started

    def _point_latest(self, name: str) -> None:
        atomic_write_text(self.root / LATEST, name + "\n")

    def _prune(self) -> None:
        refs = self.committed()
        keep = {ref.step for ref in refs[: self.keep_last]}
        if self.keep_every:
            keep |= {ref.step for ref in refs if ref.step % self.keep_every == 0}
        for ref in refs:
            if ref.step not in keep:
                shutil.rmtree(ref.path, ignore_errors=True)


def locate(path: str | Path) -> CheckpointRef:
    """The checkpoint `path` names (a step_N directory, or a checkpoint root through its `latest`), not verified:
    for reading its small files (the run's config) before — or without — digesting its weights."""
    resolved = Path(path)
    if (resolved / LATEST).is_file():
        resolved = resolved / (resolved / LATEST).read_text().strip()
    match = STEP_DIR.match(resolved.name)
    if not resolved.is_dir() or not match:
        raise CheckpointNotFound(f"{path} is not a checkpoint: expected a step_NNNNNNNN directory or a "
                                 f"checkpoint directory with a `latest` file")
    return CheckpointRef(resolved, int(match.group(1)))


def read_trainer_state(path: Path) -> dict:
    return json.loads((path / TRAINER_STATE).read_text(encoding="utf-8"))


def read_saved_config(path: Path) -> str:
    return (path / CONFIG_FILE).read_text(encoding="utf-8")


def read_rng_state(path: Path, rank: int) -> dict | None:
    file = path / "rng" / f"rank{rank}.json"
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None
