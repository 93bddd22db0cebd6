"""launch.doctor: every row present, honest values, absent pieces reported rather than crashing; with a config
it exits non-zero when this node cannot run it (the Slurm preflight relies on that)."""

import json
import shutil
import sys

import pytest
import torch

from launch import doctor, preflight
from pretrain.model import kernels

ROWS = ["python", "torch", "deepspeed", "flash-attn", "wandb", "apex", "cuda", "nccl", "attention backend",
        "norm backend", "gcc", "ninja", "free disk", "wandb mode", "nccl env", "infiniband", "network"]


def _run_json(capsys, argv, environ, status=0, **kwargs):
    assert doctor.main(["--json", *argv], environ=environ, **kwargs) == status
    return {row["name"]: row for row in json.loads(capsys.readouterr().out)}


def test_json_report_has_every_row_with_real_values(tmp_path, capsys):
    rows = _run_json(capsys, ["--checkpoint-dir", str(tmp_path / "not-yet")], environ={})
    assert list(rows) == ROWS
    assert rows["torch"]["value"] == torch.__version__
    assert rows["python"]["value"] == ".".join(map(str, sys.version_info[:3]))
    expected_gcc = "absent" if shutil.which("gcc") is None else None
    assert expected_gcc is None or rows["gcc"]["value"] == expected_gcc
    free_gib = float(rows["free disk"]["value"].split()[0])
    assert abs(free_gib - shutil.disk_usage(tmp_path).free / 2**30) < 1.0
    assert "not created yet" in rows["free disk"]["detail"]
    if not torch.cuda.is_available():
        assert rows["cuda"]["value"] == "not available"
        assert rows["attention backend"]["value"] == "sdpa" and rows["norm backend"]["value"] == "torch"


def test_wandb_mode_never_prints_the_key(tmp_path, capsys):
    secret = "0123456789abcdef-very-secret"
    rows = _run_json(capsys, ["--checkpoint-dir", str(tmp_path)], environ={"WANDB_API_KEY": secret})
    assert rows["wandb mode"]["value"] == "online"
    assert secret not in json.dumps(rows)
    assert doctor.main(["--checkpoint-dir", str(tmp_path)], environ={"WANDB_API_KEY": secret}) == 0
    assert secret not in capsys.readouterr().out
    rows = _run_json(capsys, ["--checkpoint-dir", str(tmp_path)], environ={"WANDB_MODE": "disabled"})
    assert rows["wandb mode"]["value"] == "disabled"
    assert _run_json(capsys, [], environ={"BAICHUAN_RUN_DIR": str(tmp_path)})["wandb mode"]["value"] == "offline"


def test_missing_packages_and_model_backends_are_reported_not_raised(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(doctor, "distribution_version", lambda name: None)
    monkeypatch.setitem(sys.modules, "pretrain.model.attention", None)  # import now raises ImportError
    rows = _run_json(capsys, ["--checkpoint-dir", str(tmp_path)], environ={})
    assert rows["deepspeed"]["value"] == rows["flash-attn"]["value"] == "absent"
    assert rows["attention backend"]["value"] == "unknown" and "NotFoundError" in rows["attention backend"]["detail"]
    assert rows["norm backend"]["value"] in ("torch", "apex")


def test_table_lists_every_row(tmp_path, capsys):
    assert doctor.main(["--checkpoint-dir", str(tmp_path)], environ={}) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[0].strip() for line in lines] == ROWS


# --- requirements of a config (issue 13 item 9) ------------------------------------------------------------------

@pytest.fixture(autouse=True)
def fresh_kernel_detection():
    kernels.flash_attn_status.cache_clear()
    kernels.apex_rmsnorm_status.cache_clear()
    yield
    kernels.flash_attn_status.cache_clear()
    kernels.apex_rmsnorm_status.cache_clear()


@pytest.fixture
def fake_gpus(monkeypatch):
    def install(count=8, capability=(9, 0), name="NVIDIA H100 80GB HBM3"):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: name)

    return install


def _failed(rows):
    return {name for name, row in rows.items() if row["failed"]}


def test_plain_doctor_is_informational_and_exits_0(tmp_path, capsys):
    rows = _run_json(capsys, ["--checkpoint-dir", str(tmp_path)], environ={})
    assert not _failed(rows) and not any(name.startswith("require") for name in rows)


def test_a_config_this_cpu_node_can_run_passes_with_its_requirements_listed(tmp_path, capsys):
    rows = _run_json(capsys, ["--checkpoint-dir", str(tmp_path), "model=tiny"], environ={})
    assert {"require attention", "require norm", "require disk"} <= set(rows) and not _failed(rows)
    assert "GiB" in rows["require disk"]["detail"]


def test_missing_gpus_fail_the_node(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rows = _run_json(capsys, ["--checkpoint-dir", str(tmp_path), "--gpus", "8"], environ={}, status=1)
    assert _failed(rows) == {"require gpus"} and "0 of 8" in rows["require gpus"]["detail"]
    assert doctor.main(["--checkpoint-dir", str(tmp_path), "--gpus", "8"], environ={}) == 1
    assert "require gpus" in capsys.readouterr().err


def test_explicit_flash_that_cannot_load_fails_the_node(tmp_path, capsys, monkeypatch, fake_gpus):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rows = _run_json(capsys, ["--checkpoint-dir", str(tmp_path), "model.attention=flash"], environ={}, status=1)
    assert _failed(rows) == {"require attention"} and "no CUDA device" in rows["require attention"]["detail"]
    # A pre-Ampere GPU with flash-attn installed: the compute capability is the finding.
    fake_gpus(capability=(7, 0), name="Tesla V100-SXM2-32GB")
    kernels.flash_attn_status.cache_clear()
    monkeypatch.setitem(sys.modules, "flash_attn", type(sys)("flash_attn"))
    rows = _run_json(capsys, ["--checkpoint-dir", str(tmp_path), "model.attention=flash", "--gpus", "8"],
                     environ={}, status=1)
    assert _failed(rows) == {"require attention"} and "compute capability 7.0" in rows["require attention"]["detail"]


def test_cpu_adam_for_zero3_offload_needs_nvcc_on_a_gpu_node(tmp_path, capsys, monkeypatch, fake_gpus):
    fake_gpus()
    monkeypatch.setattr(preflight, "cpu_adam_prebuilt", lambda: False)
    monkeypatch.setattr(preflight, "DEFAULT_CUDA_HOME", tmp_path / "no-cuda")
    argv = ["--checkpoint-dir", str(tmp_path), "deepspeed=zero3_offload"]
    rows = _run_json(capsys, argv, environ={"PATH": str(tmp_path)}, status=1)
    assert _failed(rows) == {"require cpu adam"} and "nvcc" in rows["require cpu adam"]["detail"]
    nvcc = tmp_path / "cuda" / "bin" / "nvcc"
    nvcc.parent.mkdir(parents=True)
    nvcc.write_text("#!/bin/sh\n")
    nvcc.chmod(0o755)
    rows = _run_json(capsys, argv, environ={"PATH": str(tmp_path), "CUDA_HOME": str(tmp_path / "cuda")})
    assert "require cpu adam" in rows and not _failed(rows)


def test_too_little_disk_for_one_checkpoint_fails_the_node(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(preflight.shutil, "disk_usage",
                        lambda path: shutil._ntuple_diskusage(total=200 * 2**30, used=190 * 2**30, free=10 * 2**30))
    rows = _run_json(capsys, ["--checkpoint-dir", str(tmp_path), "model=baichuan_7b"], environ={}, status=1)
    # 7.0B parameters x 14 bytes (bf16 weights + fp32 master, momentum, variance) = 91 GiB per checkpoint.
    assert _failed(rows) == {"require disk"} and "91." in rows["require disk"]["detail"]


def test_a_bad_config_is_one_line_and_exit_2(tmp_path, capsys):
    assert doctor.main(["--checkpoint-dir", str(tmp_path), "model.attention=fast"], environ={}) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error:") and "model.attention" in line


def test_nccl_environment_and_interconnect_from_sysfs(tmp_path, capsys):
    sys_class = tmp_path / "sys" / "class"
    port = sys_class / "infiniband" / "mlx5_0" / "ports" / "1"
    port.mkdir(parents=True)
    (port / "state").write_text("4: ACTIVE\n")
    (port / "rate").write_text("200 Gb/sec (4X HDR)\n")
    (port / "link_layer").write_text("InfiniBand\n")
    for name, state, speed in (("lo", "unknown", None), ("eth0", "up", "25000"), ("ib0", "down", None)):
        (sys_class / "net" / name).mkdir(parents=True)
        (sys_class / "net" / name / "operstate").write_text(state + "\n")
        if speed:
            (sys_class / "net" / name / "speed").write_text(speed + "\n")
    environ = {"NCCL_IB_HCA": "mlx5_0", "NCCL_SOCKET_IFNAME": "eth0", "NCCL_DEBUG": "INFO",
               "WANDB_API_KEY": "very-secret"}
    rows = _run_json(capsys, ["--checkpoint-dir", str(tmp_path)], environ=environ, sys_class=sys_class)
    assert rows["nccl env"]["detail"] == "NCCL_DEBUG=INFO NCCL_IB_HCA=mlx5_0 NCCL_SOCKET_IFNAME=eth0"
    assert rows["infiniband"]["value"] == "1 port(s) active"
    assert "mlx5_0/1 ACTIVE 200 Gb/sec (4X HDR) InfiniBand" in rows["infiniband"]["detail"]
    assert rows["network"]["detail"] == "eth0 up 25000 Mb/s, ib0 down"
    assert "very-secret" not in json.dumps(rows)
    empty = _run_json(capsys, ["--checkpoint-dir", str(tmp_path)], environ={}, sys_class=tmp_path / "none")
    assert empty["nccl env"]["value"] == "none set" and empty["infiniband"]["value"] == "absent"
