"""launch/slurm/train.sbatch with MAX_DROPPED_NODES / SPARE_NODES, outside Slurm: stub `scontrol` and `srun`;
the first training step fails, the doctor then fails on gpu08 only, and the next srun step excludes it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "launch" / "slurm" / "train.sbatch"

SRUN_STUB = """#!/bin/sh
case "$*" in
  *"--nodelist gpu08"*launch.doctor*) echo "require gpus: found 7 of 8" >&2; exit 1;;  # the node check, on gpu08
  *launch.doctor*) exit 0;;  # the preflight and the check on the other nodes
esac
python -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@" >> "$STUB_LOG"
[ "$(wc -l < "$STUB_LOG")" -ge 2 ]  # the first training step fails
"""


def _run(tmp_path, **environ):
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "scontrol").write_text("#!/bin/sh\nprintf 'gpu07\\ngpu08\\ngpu09\\ngpu10\\n'\n")
    (stubs / "srun").write_text(SRUN_STUB)
    (stubs / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAICHUAN_", "SLURM_"))}
    env.update(PATH=f"{stubs}:{env['PATH']}", STUB_LOG=str(tmp_path / "srun.jsonl"), SLURM_JOB_ID="4242",
               SLURM_JOB_NODELIST="gpu[07-10]", SLURM_NNODES="4", SLURM_GPUS_ON_NODE="4",
               BAICHUAN_RUN_DIR=str(tmp_path / "run"), RESTART_BACKOFF="0", STARTUP_TIMEOUT="60", **environ)
    result = subprocess.run(["bash", str(SCRIPT), "model=tiny"], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    launches = [json.loads(line) for line in (tmp_path / "srun.jsonl").read_text().splitlines()]
    return result, launches


def _value(argv: list[str], flag: str) -> str:
    for i, arg in enumerate(argv):
        if arg == flag:
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{flag} not in {argv}")


@pytest.mark.slow
def test_the_node_the_doctor_fails_after_a_crash_is_excluded_from_the_next_step(tmp_path):
    result, (first, second) = _run(tmp_path, MAX_DROPPED_NODES="1", MIN_WORLD_SIZE="8")
    assert result.returncode == 0, result.stderr
    assert _value(first, "--nodes") == "4" and "--exclude" not in " ".join(first)
    assert _value(second, "--exclude") == "gpu08" and _value(second, "--nodes") == "3"
    assert _value(second, "--nnodes") == "3" and second[-1] == "train.resume=auto"
    [incident] = [json.loads(line) for line in (tmp_path / "run" / "incidents.jsonl").read_text().splitlines()]
    assert incident["dropped_nodes"] == ["gpu08"] and "require gpus: found 7 of 8" in incident["detail"]


@pytest.mark.slow
def test_a_spare_node_is_held_back_and_takes_the_bad_nodes_place(tmp_path):
    result, (first, second) = _run(tmp_path, SPARE_NODES="1")
    assert result.returncode == 0, result.stderr
    assert _value(first, "--exclude") == "gpu10" and _value(first, "--nodes") == "3"
    assert _value(second, "--exclude") == "gpu08" and _value(second, "--nodes") == "3"
