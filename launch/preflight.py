"""What a training config requires of the node it is about to run on: `python -m launch.doctor OVERRIDES`.

Each requirement is a row; a failed one makes the doctor exit 1, so the Slurm script (set -e, one doctor per
node) stops before the job spends its allocation on a node that would crash at the first step or the first save.
The kernel rows ask `pretrain.model.kernels`, the same functions that decide what training does.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from launch.check import Check

# Where torch.utils.cpp_extension looks for CUDA when neither CUDA_HOME/CUDA_PATH nor nvcc on PATH says.
DEFAULT_CUDA_HOME = Path("/usr/local/cuda")


def _row(name: str, problem: str | None, ok_detail: str) -> Check:
    return Check(name, "FAILED" if problem else "ok", problem or ok_detail, failed=bool(problem))


def existing_ancestor(path: Path) -> Path:
    """The directory may not exist before the first run: measure the filesystem it will be created on."""
    probe = path.resolve()
    while not probe.exists():
        probe = probe.parent
    return probe


def require_gpus(count: int) -> Check:
    import torch  # lazy: torch, as in launch.doctor (its other rows run without it)

    found = torch.cuda.device_count() if torch.cuda.is_available() else 0
    problem = f"{found} of {count} CUDA devices visible on this node" if found < count else None
    return _row("require gpus", problem, f"{found} CUDA device(s), {count} needed")


def require_kernels(config) -> list[Check]:
    # lazy: imports torch (pretrain.model), which the doctor must not need for its other rows
    from pretrain.model.kernels import attention_backend_problem, norm_backend_problem

    model = config.model
    return [_row("require attention", attention_backend_problem(model.attention, training=True),
                 f"model.attention={model.attention} can train here"),
            _row("require norm", norm_backend_problem(model.norm), f"model.norm={model.norm} can run here")]


def cpu_adam_prebuilt() -> bool:
    """DeepSpeed installed with DS_BUILD_CPU_ADAM=1 ships the op compiled; otherwise it is JIT-built at start-up."""
    try:
        # lazy: DeepSpeed takes seconds to import and may be missing here
        from deepspeed.git_version_info import installed_ops
    except ImportError:
        return False
    return bool(installed_ops.get("cpu_adam"))


def cuda_home(environ) -> Path | None:
    """torch.utils.cpp_extension's search order: CUDA_HOME, CUDA_PATH, nvcc on PATH, /usr/local/cuda."""
    for name in ("CUDA_HOME", "CUDA_PATH"):
        if environ.get(name):
            return Path(environ[name])
    nvcc = shutil.which("nvcc", path=environ.get("PATH", ""))
    if nvcc:
        return Path(nvcc).resolve().parent.parent
    return DEFAULT_CUDA_HOME if DEFAULT_CUDA_HOME.exists() else None


def require_cpu_adam(environ) -> Check:
    """deepspeed.offload_optimizer (zero3_offload) steps with DeepSpeedCPUAdam. Unless prebuilt, every rank JIT-builds
    it with a C++ compiler and ninja — and on a CUDA node DeepSpeed builds it as a CUDA op, checking nvcc under
    CUDA_HOME against torch's CUDA version, so a node without the CUDA toolkit fails there, after start-up."""
    import torch  # lazy: torch, as in launch.doctor (its other rows run without it)

    if cpu_adam_prebuilt():
        return _row("require cpu adam", None, "DeepSpeed's cpu_adam op is prebuilt")
    missing = [tool for tool in ("gcc", "ninja")
               if not (shutil.which(tool) or shutil.which(tool, path=str(Path(sys.executable).parent)))]
    if torch.cuda.is_available():
        home = cuda_home(environ)
        if home is None or not (home / "bin" / "nvcc").exists():
            missing.append(f"nvcc (CUDA_HOME={home or 'unset'}; install the CUDA toolkit or set CUDA_HOME)")
    problem = (f"deepspeed.offload_optimizer JIT-builds DeepSpeed's CPU Adam, which needs {', '.join(missing)}"
               if missing else None)
    return _row("require cpu adam", problem, "can JIT-build DeepSpeed's CPU Adam (gcc, ninja"
                + (", nvcc)" if torch.cuda.is_available() else ")"))


def require_disk(config, checkpoint_dir: Path) -> Check:
    # lazy: imports torch (pretrain.model), which the doctor must not need for its other rows
    from pretrain.model.flops import count_parameters
    from pretrain.plan import checkpoint_bytes

    parameters = count_parameters(config.model)
    need = checkpoint_bytes(parameters, config.train.precision)
    free = shutil.disk_usage(existing_ancestor(checkpoint_dir)).free
    sizes = (f"one checkpoint is {need / 2**30:.1f} GiB ({parameters / 1e9:.2f}B parameters, "
             f"{config.train.precision}), {free / 2**30:.1f} GiB free at {checkpoint_dir}")
    return _row("require disk", f"too little disk: {sizes}" if free < need else None, sizes)


def requirements(config, gpus: int, checkpoint_dir: Path, environ) -> list[Check]:
    """The rows for `--gpus N` and, when a config is given, for what it asks of this node."""
    checks = [require_gpus(gpus)] if gpus else []
    if config is not None:
        checks += require_kernels(config)
        if config.deepspeed.offload_optimizer:
            checks.append(require_cpu_adam(environ))
        checks.append(require_disk(config, checkpoint_dir))
    return checks
