"""`python -m launch.doctor`: what this machine will train with, before a job spends its queue time finding out.

    python -m launch.doctor [--checkpoint-dir DIR] [--json] [--gpus N] [OVERRIDE ...]

Reports torch / CUDA / NCCL / DeepSpeed / flash-attn / apex versions (or their absence), the attention and
norm backends `model.attention=auto` / `model.norm=auto` resolve to, whether gcc and ninja are there for
DeepSpeed's JIT-built ops, free disk at the checkpoint directory, the wandb mode, the NCCL_* environment and
the InfiniBand ports and network interfaces sysfs shows. Alone it is informational and exits 0.

Given the trainer's overrides (and `--gpus N`), it also checks what that config requires of this node
(launch/preflight.py) and exits 1 when any requirement fails — the Slurm script runs it once per node before
training. A bad config exits 2 with one line, as the trainer does.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from launch import interconnect, preflight
from launch.check import ABSENT, Check
from plumbing.user_error import UserError, report_user_error


def distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_versions() -> list[Check]:
    checks = [Check("python", platform.python_version(), sys.executable)]
    for label, dist in (("torch", "torch"), ("deepspeed", "deepspeed")):
        checks.append(Check(label, distribution_version(dist) or ABSENT))
    checks.append(check_flash_attn())
    checks.append(Check("wandb", distribution_version("wandb") or ABSENT))
    checks.append(check_apex())
    return checks


def _kernel_row(name: str, status_function: str) -> Check:
    """A row from pretrain.model.kernels' detection — the same answer the model acts on."""
    try:
        status = getattr(importlib.import_module("pretrain.model.kernels"), status_function)()
    except Exception as exc:  # the doctor reports, it does not crash: any failure here is the finding
        return Check(name, "unknown", f"pretrain.model.kernels.{status_function} failed: {type(exc).__name__}: {exc}")
    if status.version is None:
        return Check(name, ABSENT, status.reason)
    return Check(name, "unusable" if status.broken else status.version, status.reason)


def check_flash_attn() -> Check:
    return _kernel_row("flash-attn", "flash_attn_status")


def check_apex() -> Check:
    return _kernel_row("apex", "apex_rmsnorm_status")


def check_accelerator() -> list[Check]:
    try:
        # lazy: the doctor must run (and say so) where torch is missing or broken
        import torch
    except ImportError:
        return [Check("cuda", ABSENT, "torch is not installed")]
    if not torch.cuda.is_available():
        backend = "gloo" if torch.distributed.is_available() and torch.distributed.is_gloo_available() else ABSENT
        return [Check("cuda", "not available", f"CPU only (torch built for CUDA {torch.version.cuda})"
                      if torch.version.cuda else "CPU only (CPU build of torch)"),
                Check("nccl", "n/a", f"distributed backend: {backend}")]
    names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
    checks = [Check("cuda", str(torch.version.cuda), f"{torch.cuda.device_count()} device(s): {', '.join(names)}")]
    try:
        nccl = ".".join(str(part) for part in torch.cuda.nccl.version())
    except (AttributeError, RuntimeError):
        nccl = ABSENT
    checks.append(Check("nccl", nccl, "distributed backend: nccl" if nccl != ABSENT else "torch built without NCCL"))
    return checks


def check_backends() -> list[Check]:
    """What `auto` resolves to, asked of the model package itself so the answer cannot drift from it."""
    checks = []
    for name, module, function in (("attention backend", "pretrain.model.attention", "resolve_attention_backend"),
                                   ("norm backend", "pretrain.model.norm", "resolve_norm_backend")):
        try:
            resolve = getattr(importlib.import_module(module), function)
            checks.append(Check(name, resolve("auto"), "what `auto` resolves to on this machine"))
        except Exception as exc:  # the doctor reports, it does not crash: any failure here is the finding
            checks.append(Check(name, "unknown", f"{module}.{function} failed: {type(exc).__name__}: {exc}"))
    return checks


def check_toolchain() -> list[Check]:
    gcc = shutil.which("gcc")
    if gcc is None:
        gcc_check = Check("gcc", ABSENT, "DeepSpeed JIT-builds ops (e.g. CPU comm, fused Adam) with a C++ compiler")
    else:
        first_line = subprocess.run([gcc, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
        gcc_check = Check("gcc", first_line[0] if first_line else "present", gcc)
    # torch.utils.cpp_extension runs `ninja`; a pip-installed one sits next to the interpreter.
    ninja = shutil.which("ninja") or shutil.which("ninja", path=str(Path(sys.executable).parent))
    ninja_check = Check("ninja", "present" if ninja else ABSENT, ninja or "needed for DeepSpeed's JIT-built ops")
    return [gcc_check, ninja_check]


def check_disk(checkpoint_dir: Path) -> Check:
    probe = preflight.existing_ancestor(checkpoint_dir)
    usage = shutil.disk_usage(probe)
    detail = f"at {checkpoint_dir}" + ("" if probe == checkpoint_dir.resolve() else f" (not created yet; measured {probe})")
    return Check("free disk", f"{usage.free / 2**30:.1f} GiB of {usage.total / 2**30:.1f} GiB", detail)


def check_wandb(environ) -> Check:
    """Mirrors pretrain.metrics: online needs WANDB_API_KEY, WANDB_MODE overrides. The key is never shown."""
    forced = environ.get("WANDB_MODE")
    if forced:
        return Check("wandb mode", forced, "from WANDB_MODE")
    if environ.get("WANDB_API_KEY"):
        return Check("wandb mode", "online", "WANDB_API_KEY is set (logging.wandb_mode=online will sync)")
    return Check("wandb mode", "offline", "no WANDB_API_KEY: runs log offline; `wandb sync` them later")


def collect(checkpoint_dir: Path, environ=os.environ, sys_class: Path = interconnect.SYS_CLASS) -> list[Check]:
    return [*check_versions(), *check_accelerator(), *check_backends(), *check_toolchain(),
            check_disk(checkpoint_dir), check_wandb(environ), *interconnect.collect(environ, sys_class)]


def format_table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    value_width = max(len(c.value) for c in checks)
    return "".join(f"{c.name:<{width}}  {c.value:<{value_width}}  {c.detail}".rstrip() + "\n" for c in checks)


def main(argv: list[str] | None = None, environ=os.environ, sys_class: Path = interconnect.SYS_CLASS) -> int:
    parser = argparse.ArgumentParser(prog="python -m launch.doctor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint-dir", type=Path, default=None,
                        help="where checkpoints will go (default: the config's train.checkpoint_dir when overrides "
                             "are given, else $BAICHUAN_RUN_DIR, else the current directory)")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument("--gpus", type=int, default=0, help="fail unless this node has at least N CUDA devices")
    parser.add_argument("overrides", nargs="*", help="the trainer's overrides: check this node can run that config")
    args = parser.parse_args(argv)
    config = None
    if args.overrides:
        # lazy: only with overrides; pretrain.config imports torch, which the doctor must not need
        from pretrain.config import compose_config

        try:
            config = compose_config(args.overrides)
        except UserError as exc:  # a bad config: one line, exit 2, as the trainer answers
            return report_user_error(exc)
    checkpoint_dir = (args.checkpoint_dir or (Path(config.train.checkpoint_dir) if config else None)
                      or Path(environ.get("BAICHUAN_RUN_DIR") or "."))
    checks = collect(checkpoint_dir, environ, sys_class)
    checks += preflight.requirements(config, args.gpus, checkpoint_dir, environ)
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        sys.stdout.write(format_table(checks))
    failed = [c for c in checks if c.failed]
    for check in failed:
        print(f"doctor: {socket.gethostname()}: {check.name} failed: {check.detail}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
