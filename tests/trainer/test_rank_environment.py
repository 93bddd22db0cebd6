"""Who this process is in the job, before any process group exists: an srun task without a launcher gets its
rank, world, local rank and rendezvous from Slurm (not rank 0 of a world of 1); the process-group timeout is the
config's; a rank's device and its collectives are those of its LOCAL_RANK."""

from __future__ import annotations

from datetime import timedelta

import pytest
import torch

import pretrain.engine.deepspeed_engine as deepspeed_engine
from plumbing.slurm_nodelist import HostListError, expand_nodelist
from plumbing.user_error import UserError
from pretrain.distributed import session, slurm_env

SRUN_TASK = {  # task 3 of `srun -N 2 -n 8 python -m pretrain.train` (what srun exports; no RANK)
    "SLURM_JOB_ID": "81234", "SLURM_STEP_ID": "0", "SLURM_PROCID": "3", "SLURM_LOCALID": "3",
    "SLURM_NTASKS": "8", "SLURM_STEP_NUM_TASKS": "8", "SLURM_JOB_NODELIST": "gpu[07-08]",
    "SLURM_STEP_NODELIST": "gpu[07-08]",
}


@pytest.fixture(autouse=True)
def no_scontrol(monkeypatch):
    monkeypatch.setattr(slurm_env.shutil, "which", lambda name: None)  # this machine's answer, on any machine


def test_an_srun_task_without_rank_gets_slurms_rank_world_and_rendezvous():
    env = session.launcher_environment(SRUN_TASK)
    assert {k: env[k] for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")} == {
        "RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "3", "MASTER_ADDR": "gpu07"}
    port = int(env["MASTER_PORT"])
    assert 20000 <= port < 40000
    # Every task of the step agrees on the port; the supervisor's next step in the same job gets another.
    assert session.launcher_environment({**SRUN_TASK, "SLURM_PROCID": "6", "SLURM_LOCALID": "2"})["MASTER_PORT"] == str(port)
    assert session.launcher_environment({**SRUN_TASK, "SLURM_STEP_ID": "1"})["MASTER_PORT"] != str(port)
    assert session.launcher_environment({**SRUN_TASK, "MASTER_PORT": "29555"})["MASTER_PORT"] == "29555"


def test_the_issues_minimal_environment_maps_too():
    env = session.launcher_environment({"SLURM_PROCID": "3", "SLURM_NTASKS": "8", "SLURM_LOCALID": "3",
                                        "SLURM_JOB_NODELIST": "node[01-03,07]"})
    assert (env["RANK"], env["WORLD_SIZE"], env["MASTER_ADDR"]) == ("3", "8", "node01")


def test_scontrol_names_the_first_host_where_slurm_is_installed(monkeypatch):
    monkeypatch.setattr(slurm_env.shutil, "which", lambda name: "/usr/bin/scontrol")
    calls = []

    def scontrol(cmd, **kwargs):
        calls.append(cmd)
        return type("Done", (), {"returncode": 0, "stdout": "gpu07\ngpu08\n"})()

    monkeypatch.setattr(slurm_env.subprocess, "run", scontrol)
    assert session.launcher_environment(SRUN_TASK)["MASTER_ADDR"] == "gpu07"
    assert calls == [["scontrol", "show", "hostnames", "gpu[07-08]"]]


def test_a_launcher_or_a_plain_process_is_left_as_before():
    assert session.launcher_environment({**SRUN_TASK, "RANK": "5"}) == {}  # torchrun/deepspeed under srun
    # `python -m pretrain.train` typed into a batch script: SLURM_PROCID=0 and the job's SLURM_NTASKS, no step.
    batch = {"SLURM_JOB_ID": "81234", "SLURM_PROCID": "0", "SLURM_NTASKS": "8", "SLURM_JOB_NODELIST": "gpu07"}
    env = session.launcher_environment(batch)
    assert (env["RANK"], env["WORLD_SIZE"], env["MASTER_ADDR"]) == ("0", "1", "127.0.0.1")


def test_an_srun_task_that_cannot_find_its_peers_is_one_line():
    for missing in ("SLURM_JOB_NODELIST", "SLURM_LOCALID"):
        env = {k: v for k, v in SRUN_TASK.items() if k not in (missing, "SLURM_STEP_NODELIST")}
        with pytest.raises(UserError) as caught:
            session.launcher_environment(env)
        assert "\n" not in str(caught.value) and " — " in str(caught.value)


def test_a_task_bound_to_one_gpu_is_told_to_see_the_nodes_gpus():
    """With --gpus-per-task each task sees cuda:0 only; LOCAL_RANK=3 would select a device that is not there."""
    with pytest.raises(UserError, match="sees only GPU"):
        session.launcher_environment({**SRUN_TASK, "CUDA_VISIBLE_DEVICES": "3"})
    assert session.launcher_environment({**SRUN_TASK, "CUDA_VISIBLE_DEVICES": "0,1,2,3"})["LOCAL_RANK"] == "3"


def test_slurm_nodelist_expansion():
    assert expand_nodelist("node[01-03,07]") == ["node01", "node02", "node03", "node07"]
    assert expand_nodelist("a,b[8-10]") == ["a", "b8", "b9", "b10"]
    with pytest.raises(HostListError):
        expand_nodelist("node[3-1]")


def test_the_process_group_timeout_is_the_configs(monkeypatch):
    import deepspeed
    from deepspeed.accelerator import get_accelerator

    joined = {}
    monkeypatch.setattr(get_accelerator(), "set_device", lambda index: joined.setdefault("device", index))
    monkeypatch.setattr(deepspeed, "init_distributed", lambda **kwargs: joined.update(kwargs))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.setenv(key, {"RANK": "2", "WORLD_SIZE": "4", "LOCAL_RANK": "2"}.get(key, "1"))
    assert session.init_distributed(timeout_minutes=90) == (2, 4)
    assert joined["timeout"] == timedelta(minutes=90) and joined["device"] == 2
    from pretrain.checkpoint.config_diff import disallowed_changes
    from pretrain.config.schema import TrainConfig

    assert TrainConfig().dist_timeout_minutes >= 30  # a long default: NCCL's 10 minutes is too short
    saved = "train:\n  dist_timeout_minutes: 60.0\n"
    assert disallowed_changes(saved, saved.replace("60.0", "120.0")) == []  # a resume may raise it


def test_a_ranks_device_and_its_collectives_follow_local_rank(monkeypatch):
    """bench_checkpoint's worker on a GPU node: cuda:LOCAL_RANK for every rank, and Collectives on it."""
    from deepspeed.accelerator import real_accelerator
    from deepspeed.accelerator.cuda_accelerator import CUDA_Accelerator

    from bench import bench_checkpoint

    monkeypatch.setattr(real_accelerator, "ds_accelerator", CUDA_Accelerator())
    joined = []
    monkeypatch.setattr(deepspeed_engine, "select_device_and_join_group", lambda index, timeout=None: joined.append(index))
    for key, value in {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "3"}.items():
        monkeypatch.setenv(key, value)
    collectives = bench_checkpoint.join_group()
    assert joined == [3] and collectives.device == torch.device("cuda", 3)
