"""Availability of the optional fused kernels (flash-attn 2, NVIDIA apex), and which attention/norm kernels can
run on this machine's device. The packages are imported only here, lazily.

One detection function per kernel (`flash_attn_status`, `apex_rmsnorm_status`) serves both the model (what
`auto` picks, what an explicit choice is refused for) and `launch.doctor` (what it reports and fails a node on),
so the doctor's answer is the one training will act on.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass

import torch

# flash-attn's setup.py imports torch, so pip's isolated build environment (which has no torch) cannot build it:
# it is installed on its own, after torch, against the torch already there.
FLASH_INSTALL = "pip install 'flash-attn>=2.5' --no-build-isolation (after torch)"
# flash-attn 2 ships kernels for Ampere (sm80) and newer only.
FLASH_MIN_CAPABILITY = (8, 0)
APEX_BUILD = "build apex from github.com/NVIDIA/apex with --cuda_ext (the PyPI `apex` is unrelated)"


@dataclass(frozen=True)
class KernelStatus:
    """version: the installed package's version (None: not installed); usable: it can run here now;
    reason: one line saying why not, or what was found; broken: installed but cannot load anywhere (no compiled
    extension, built against another torch) — as opposed to fine but without a suitable GPU here."""

    version: str | None
    usable: bool
    reason: str
    broken: bool = False


def _distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


@functools.cache
def flash_attn_status() -> KernelStatus:
    """flash-attn 2 imports (its compiled extension included) and a CUDA device of compute capability >= 8.0."""
    if not torch.cuda.is_available():
        return KernelStatus(_distribution_version("flash-attn"), False, "no CUDA device (flash-attn has no CPU kernels)")
    try:
        module = importlib.import_module("flash_attn")
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name == "flash_attn":
            return KernelStatus(None, False, f"flash-attn is not installed — {FLASH_INSTALL}")
        # The package is there but its extension does not load: missing (a source tree without the build) or
        # built against another torch/CUDA (undefined symbol, an ABI mismatch). Either way: rebuild it.
        return KernelStatus(_distribution_version("flash-attn") or "installed", False,
                            f"flash-attn is installed but does not import ({_first_line(exc)}) — reinstall it "
                            f"against this torch: {FLASH_INSTALL}", broken=True)
    version = getattr(module, "__version__", None) or _distribution_version("flash-attn") or "installed"
    capability = tuple(torch.cuda.get_device_capability())
    if capability < FLASH_MIN_CAPABILITY:
        return KernelStatus(version, False,
                            f"{torch.cuda.get_device_name()} has compute capability {capability[0]}.{capability[1]}; "
                            "flash-attn 2 needs 8.0 or newer (Ampere, Ada, Hopper)")
    return KernelStatus(version, True, f"flash-attn {version} on CUDA")


@functools.cache
def apex_rmsnorm_status() -> KernelStatus:
    """NVIDIA apex with its compiled CUDA extension (`--cuda_ext`) on a CUDA device.

    `apex.normalization.fused_layer_norm` defines `fused_rms_norm_affine` even in a Python-only build; the
    compiled top-level module `fused_layer_norm_cuda` is imported only on the first call, so its absence would
    surface as a ModuleNotFoundError in the first forward. It is checked here instead."""
    if importlib.util.find_spec("apex") is None:
        return KernelStatus(None, False, f"apex is not installed — optional: {APEX_BUILD}")
    version = _distribution_version("apex") or "installed"
    if importlib.util.find_spec("fused_layer_norm_cuda") is None:
        return KernelStatus(version, False, "apex has no compiled CUDA extension fused_layer_norm_cuda (a Python-only "
                                            f"build or the unrelated PyPI package) — {APEX_BUILD}", broken=True)
    if not torch.cuda.is_available():
        return KernelStatus(version, False, "no CUDA device (apex's fused RMSNorm is CUDA-only)")
    try:
        importlib.import_module("fused_layer_norm_cuda")
        module = importlib.import_module("apex.normalization.fused_layer_norm")
    except ImportError as exc:  # e.g. built against another torch (undefined symbol)
        return KernelStatus(version, False, f"apex's CUDA extension does not import ({_first_line(exc)}) — {APEX_BUILD}",
                            broken=True)
    if not hasattr(module, "fused_rms_norm_affine"):
        return KernelStatus(version, False, f"this apex predates fused_rms_norm_affine — {APEX_BUILD}", broken=True)
    return KernelStatus(version, True, "NVIDIA apex with CUDA extensions")


def flash_attn_available() -> bool:
    return flash_attn_status().usable


def apex_rmsnorm_available() -> bool:
    return apex_rmsnorm_status().usable


def attention_backend_problem(requested: str, training: bool) -> str | None:
    """Why `model.attention=requested` cannot run on this machine's device — one line naming the alternatives —
    or None. `auto` never has a problem: it only picks flash when usable, else sdpa.

    FlexAttention has no backward on CPU (torch raises NotImplementedError in the first backward, after every rank
    has started), so on CPU it is refused for training but allowed for forward-only use (generate, evaluate)."""
    cuda = torch.cuda.is_available()
    alternatives = "auto|sdpa|flex|eager" if cuda or not training else "auto|sdpa|eager"
    if requested == "flash":
        status = flash_attn_status()
        if not status.usable:
            return f"model.attention=flash cannot run here: {status.reason} — or use model.attention={alternatives}"
    if requested == "flex" and training and not cuda:
        return ("model.attention=flex cannot train on CPU: torch's FlexAttention has no CPU backward (forward-only "
                f"use such as pretrain.generate works) — use model.attention={alternatives}")
    return None


def norm_backend_problem(requested: str) -> str | None:
    """Why `model.norm=requested` cannot run here (one line naming the alternatives), or None."""
    if requested == "apex":
        status = apex_rmsnorm_status()
        if not status.usable:
            return f"model.norm=apex cannot run here: {status.reason} — or use model.norm=auto|torch|reference"
    return None


def flash_attn_functions():
    """(flash_attn_func, flash_attn_varlen_func); call only after `flash_attn_available()`."""
    from flash_attn import flash_attn_func, flash_attn_varlen_func  # lazy: optional, CUDA-only

    return flash_attn_func, flash_attn_varlen_func


def apex_fused_rms_norm_affine():
    from apex.normalization.fused_layer_norm import fused_rms_norm_affine  # lazy: optional, CUDA-only

    return fused_rms_norm_affine
