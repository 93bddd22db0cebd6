"""Checkpoints on disk: atomic save, verified resume, retention.

Layout of `train.checkpoint_dir`:

    latest                  text file naming the newest committed checkpoint (moved last, atomically)
    step_00000040/
        deepspeed/          engine state written by DeepSpeed (module, optimizer partitions, scheduler)
        rng/rank<R>.json    every rank's RNG states
        trainer_state.json  step, consumed tokens, data-loader state, loss window, world size, ZeRO stage
        config.yaml         the resolved config the run used
        tokenizer.model     copied when the data names one, so the checkpoint is self-contained
        manifest.json       sizes and checksums of all of the above — written last
    .tmp_step_00000060/     an unfinished save: never trusted, removed by the next save

A save writes into the `.tmp_` directory, every rank finishes, rank 0 writes the manifest, renames the
directory into place, and only then moves `latest`. A crash at any point leaves either the previous
checkpoint as the newest valid one or the new one complete.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from plumbing.atomic_write import atomic_write_json, atomic_write_text
from pretrain.checkpoint.manifest import verify_manifest, write_manifest
from pretrain.checkpoint.rng import capture_rng_state

if TYPE_CHECKING:
    from pretrain.engine import StepEngine

log = logging.getLogger(__name__)

STEP_DIR = re.compile(r"^step_(\d{8})$")
ENGINE_TAG = "deepspeed"
TRAINER_STATE = "trainer_state.json"
CONFIG_FILE = "config.yaml"
LATEST = "latest"


def step_dir_name(step: int) -> str:
    return f"step_{step:08d}"


class CheckpointNotFound(FileNotFoundError):
    """`train.resume=PATH` names something that is not a loadable checkpoint."""


@dataclass(frozen=True)
class CheckpointRef:
    path: Path
    step: int


class CheckpointStore:
    def __init__(self, root: str | Path, keep_last: int = 3, keep_every: int = 0, checksums: bool = True):
        self.root = Path(root)
        self.keep_last = keep_last
        self.keep_every = keep_every
        self.checksums = checksums

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

    def newest_valid(self) -> CheckpointRef | None:
        """The newest checkpoint whose manifest verifies; torn or corrupt ones are reported and skipped."""
        for ref in self.committed():
            problem = verify_manifest(ref.path, self.checksums)
            if problem is None:
                return ref
            log.warning("skipping checkpoint %s: %s", ref.path, problem)
        return None

    def resolve(self, resume: str) -> CheckpointRef | None:
        """`none` → start fresh; `auto` → newest valid (or fresh); anything else is a checkpoint path."""
        if resume == "none":
            return None
        if resume == "auto":
            return self.newest_valid()
        path = Path(resume)
        if (path / LATEST).is_file():
            path = path / (path / LATEST).read_text().strip()
        match = STEP_DIR.match(path.name)
        if not path.is_dir() or not match:
            raise CheckpointNotFound(f"{resume} is not a checkpoint: expected a step_NNNNNNNN directory or a "
                                     f"checkpoint directory with a `latest` file")
        problem = verify_manifest(path, self.checksums)
        if problem:
            raise CheckpointNotFound(f"checkpoint {resume} cannot be loaded: {problem}")
        return CheckpointRef(path, int(match.group(1)))

    # ---- saving (called on every rank) -----------------------------------------------------------------
    def save(self, engine: StepEngine, step: int, trainer_state: dict, config_yaml: str, rank: int, barrier,
             tokenizer: Path | None = None) -> Path:
        final = self.root / step_dir_name(step)
        tmp = self.root / f".tmp_{step_dir_name(step)}"
        if rank == 0:
            self.root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
        barrier()
        engine.save(tmp)  # the step engine's own state, under tmp/ENGINE_TAG
        rng_dir = tmp / "rng"
        rng_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(rng_dir / f"rank{rank}.json", capture_rng_state(), indent=1, sort_keys=True)
        barrier()  # every rank's files are on disk before rank 0 commits
        if rank == 0:
            atomic_write_json(tmp / TRAINER_STATE, trainer_state, indent=1, sort_keys=True)
            atomic_write_text(tmp / CONFIG_FILE, config_yaml)
            if tokenizer is not None and tokenizer.is_file():
                shutil.copyfile(tokenizer, tmp / "tokenizer.model")
            write_manifest(tmp, step, checksums=self.checksums)
            if final.exists():  # an earlier run saved this step and then crashed before moving `latest`
                shutil.rmtree(final)
            tmp.rename(final)
            self._point_latest(final.name)
            self._prune()
        barrier()
        return final

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


def read_trainer_state(path: Path) -> dict:
    return json.loads((path / TRAINER_STATE).read_text(encoding="utf-8"))


def read_saved_config(path: Path) -> str:
    return (path / CONFIG_FILE).read_text(encoding="utf-8")


def read_rng_state(path: Path, rank: int) -> dict | None:
    file = path / "rng" / f"rank{rank}.json"
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None
