"""Availability of the optional fused kernels (flash-attn 2, NVIDIA apex). Imported only here, lazily."""

from __future__ import annotations

import functools
import importlib


@functools.cache
def flash_attn_available() -> bool:
    """flash-attn 2 is importable and a CUDA device exists (it has no CPU kernels)."""
    import torch

    if not torch.cuda.is_available():
        return False
    try:
        importlib.import_module("flash_attn")
    except ImportError:
        return False
    return True


@functools.cache
def apex_rmsnorm_available() -> bool:
    """NVIDIA apex built with its CUDA extensions (`--cuda_ext`); the unrelated PyPI `apex` does not count."""
    import torch

    if not torch.cuda.is_available():
        return False
    try:
        module = importlib.import_module("apex.normalization.fused_layer_norm")
    except ImportError:
        return False
    return hasattr(module, "fused_rms_norm_affine")


def flash_attn_functions():
    """(flash_attn_func, flash_attn_varlen_func); call only after `flash_attn_available()`."""
    from flash_attn import flash_attn_func, flash_attn_varlen_func

    return flash_attn_func, flash_attn_varlen_func


def apex_fused_rms_norm_affine():
    from apex.normalization.fused_layer_norm import fused_rms_norm_affine

    return fused_rms_norm_affine
