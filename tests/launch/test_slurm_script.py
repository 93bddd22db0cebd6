"""launch/slurm/train.sbatch run outside Slurm, with stub `scontrol` and `srun` that record what they get."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "launch" / "slurm" / "train.sbatch"

SRUN_STUB = """#!/bin/sh
# The doctor's per-node preflight: record it, and pass (or, with RUN_DOCTOR=1, run it here for real).
case "$*" in *launch.doctor*)
    python -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@" >> "$DOCTOR_LOG"
    [ -z "$RUN_DOCTOR" ] && exit 0
    while [ "$1" != python ]; do shift; done
    exec "$@";;
esac
# Record the training launch; fail the first one so the supervisor has to restart it.
python -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@" >> "$STUB_LOG"
[ "$(wc -l < "$STUB_LOG")" -ge 2 ]
"""


def _run_sbatch(tmp_path, *overrides, **environ):
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "scontrol").write_text("#!/bin/sh\nprintf 'gpu07\\ngpu08\\n'\n")
    (stubs / "srun").write_text(SRUN_STUB)
    (stubs / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # the test's interpreter
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAICHUAN_", "SLURM_"))}
    env.update(PATH=f"{stubs}:{env['PATH']}", STUB_LOG=str(tmp_path / "srun.jsonl"), SLURM_JOB_ID="4242",
               DOCTOR_LOG=str(tmp_path / "doctor.jsonl"), SLURM_JOB_NODELIST="gpu[07-08]", SLURM_NNODES="2",
               SLURM_GPUS_ON_NODE="4", BAICHUAN_RUN_DIR=str(tmp_path / "run"), RESTART_BACKOFF="0",
               STARTUP_TIMEOUT="60", **environ)
    return subprocess.run(["bash", str(SCRIPT), *overrides], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=180)


@pytest.mark.slow
def test_sbatch_runs_torchrun_per_node_under_the_supervisor(tmp_path):
    result = _run_sbatch(tmp_path, "model=tiny", "train.max_steps=5")
    assert result.returncode == 0, result.stderr
    # The doctor ran first, once per node, with the GPU count and the trainer's config as its requirements.
    [doctor] = [json.loads(line) for line in (tmp_path / "doctor.jsonl").read_text().splitlines()]
    assert doctor[:doctor.index("python")] == ["--nodes", "2", "--ntasks-per-node=1"]
    assert doctor[doctor.index("python"):] == ["python", "-m", "launch.doctor", "--gpus", "4",
                                               f"logging.run_dir={tmp_path / 'run'}", "model=tiny",
                                               "train.max_steps=5"]
    first, second = [json.loads(line) for line in (tmp_path / "srun.jsonl").read_text().splitlines()]
    torchrun = first[first.index("torchrun"):]
    assert torchrun[:torchrun.index("-m")] == [
        "torchrun", "--nnodes", "2", "--nproc-per-node", "4", "--rdzv-backend", "c10d",
        "--rdzv-endpoint", "gpu07:29500", "--rdzv-id", "4242"]
    assert first[-3:] == [f"logging.run_dir={tmp_path / 'run'}", "model=tiny", "train.max_steps=5"]
    assert second == [*first, "train.resume=auto"]  # the restart resumes
    [incident] = [json.loads(line) for line in (tmp_path / "run" / "incidents.jsonl").read_text().splitlines()]
    assert incident["cause"] == "exit" and incident["exit_code"] == 1


@pytest.mark.slow
def test_a_node_the_doctor_fails_stops_the_job_before_training(tmp_path):
    # On this CPU machine the real doctor finds 0 of the 4 GPUs each node must have.
    result = _run_sbatch(tmp_path, "model=tiny", RUN_DOCTOR="1")
    assert result.returncode != 0
    assert "require gpus" in result.stderr
    assert not (tmp_path / "srun.jsonl").exists()  # training never launched
