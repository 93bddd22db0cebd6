"""An `srun` task started without a launcher: the torch.distributed variables from Slurm's own.

`srun -n 8 python -m pretrain.train` gives each task SLURM_PROCID / SLURM_STEP_NUM_TASKS / SLURM_LOCALID and the
step's node list, but no RANK: without this mapping every task would make itself rank 0 of a world of 1 and eight
independent runs would race on one checkpoint directory. The rendezvous is on the step's first node (where
task 0 runs under Slurm's default block and cyclic distributions), at MASTER_PORT if given, else at a port
derived from the job and step ids (every task of a step computes the same one; the next step of the same job,
e.g. a supervisor's restart, gets another).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping

from plumbing.slurm_nodelist import expand_nodelist
from plumbing.user_error import UserError


class SlurmEnvironmentError(UserError):
    """An srun task whose environment does not say where its peers are."""


def is_srun_task(environ: Mapping[str, str]) -> bool:
    """srun sets SLURM_STEP_ID for its tasks; a batch script (step `batch`) has SLURM_PROCID=0 and the job's
    SLURM_NTASKS but no step id, and a process started there directly is one process, not task 0 of N."""
    return "SLURM_PROCID" in environ and ("SLURM_STEP_ID" in environ or int(environ["SLURM_PROCID"]) > 0)


def first_host(nodelist: str) -> str:
    """The first node of a Slurm node list: `scontrol show hostnames` where Slurm's tools are installed, else
    our own expansion of the compact syntax."""
    if shutil.which("scontrol"):
        result = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True)
        if result.returncode == 0 and result.stdout.split():
            return result.stdout.split()[0]
    return expand_nodelist(nodelist)[0]


def rendezvous_port(environ: Mapping[str, str]) -> int:
    job, step = environ.get("SLURM_JOB_ID", "0"), environ.get("SLURM_STEP_ID", "0")
    offset = (int(job) * 7 + int(step)) if job.isdigit() and step.isdigit() else 0
    return 20000 + offset % 20000


def torch_env_from_slurm(environ: Mapping[str, str]) -> dict[str, str]:
    """RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT for this srun task (existing MASTER_* kept)."""
    world = environ.get("SLURM_STEP_NUM_TASKS") or environ.get("SLURM_NTASKS")
    if not world or "SLURM_LOCALID" not in environ:
        raise SlurmEnvironmentError(
            f"srun task {environ['SLURM_PROCID']} without SLURM_NTASKS or SLURM_LOCALID",
            "start it with srun -n N (or a launcher that sets RANK, WORLD_SIZE and LOCAL_RANK)")
    local, visible = int(environ["SLURM_LOCALID"]), environ.get("CUDA_VISIBLE_DEVICES", "")
    if visible and len(visible.split(",")) <= local:  # LOCAL_RANK picks the device: cuda:LOCALID must exist
        raise SlurmEnvironmentError(
            f"srun task {environ['SLURM_PROCID']} (local {local}) sees only GPU(s) {visible}",
            "let every task see all of its node's GPUs (--gpus-per-node, not --gpus-per-task or --gpu-bind)")
    master = environ.get("MASTER_ADDR")
    if not master:
        nodelist = environ.get("SLURM_STEP_NODELIST") or environ.get("SLURM_JOB_NODELIST")
        if not nodelist:
            raise SlurmEnvironmentError(
                "srun task without SLURM_STEP_NODELIST or SLURM_JOB_NODELIST to find task 0's node",
                "export MASTER_ADDR=<task 0's host>, or launch with torchrun/deepspeed")
        master = first_host(nodelist)
    return {"RANK": environ["SLURM_PROCID"], "WORLD_SIZE": world, "LOCAL_RANK": environ["SLURM_LOCALID"],
            "MASTER_ADDR": master, "MASTER_PORT": environ.get("MASTER_PORT") or str(rendezvous_port(environ))}
