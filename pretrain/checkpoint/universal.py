"""Resume on another GPU count through DeepSpeed's universal checkpoint.

ZeRO partitions optimizer state by data-parallel rank, so a checkpoint written by 2 ranks cannot be loaded
by 1 or 4 as it is. `ds_to_universal` rewrites it as one file per parameter (fp32 weights and both Adam
moments), which any world size can load with `checkpoint.load_universal`. The conversion runs once, on rank 0,
in a subprocess (universal_convert.py) writing into a temporary directory that is renamed into place when
complete. A conversion that was interrupted (a killed job, a node lost) resumes in the same temporary
directory: the partitions and parameters it finished are kept, only the rest is converted.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

from pretrain.checkpoint.store import ENGINE_TAG
from pretrain.checkpoint.universal_convert import DONE

log = logging.getLogger(__name__)

UNIVERSAL_TAG = f"{ENGINE_TAG}_universal"


def universal_dir(checkpoint: Path) -> Path:
    return checkpoint / UNIVERSAL_TAG


def convert_to_universal(checkpoint: Path, workers: int = 2) -> Path:
    """Convert `checkpoint/deepspeed` to `checkpoint/deepspeed_universal` unless already done."""
    target = universal_dir(checkpoint)
    if (target / ".complete").is_file():
        return target
    tmp = checkpoint / f".tmp_{UNIVERSAL_TAG}"  # kept from an interrupted conversion: resumed, not redone
    log.info("converting %s to a universal checkpoint (world size changed)%s", checkpoint,
             "; resuming an interrupted conversion" if tmp.is_dir() else "")
    result = subprocess.run(
        [sys.executable, "-m", "pretrain.checkpoint.universal_convert", str(checkpoint / ENGINE_TAG), str(tmp),
         "--workers", str(workers)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ds_to_universal failed for {checkpoint}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    shutil.rmtree(tmp / DONE, ignore_errors=True)
    (tmp / ".complete").write_text("ok\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target
