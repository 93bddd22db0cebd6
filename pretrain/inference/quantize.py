"""Weight-only int8 / int4 quantization of a Baichuan model through torchao (no kernels of our own).

    from pretrain.inference.quantize import quantize_model, weight_bytes
    report = quantize_model(model, "int4")     # in place; model.eval() first
    weight_bytes(model)                        # bytes held by weights, quantized tensors counted as stored

What is quantized is what Baichuan-13B's own `model.quantize(8|4)` quantizes: the linear layers inside the
decoder blocks (`W_pack`, `o_proj`, `gate_proj`, `up_proj`, `down_proj`). The embedding and `lm_head` stay in
the model's dtype — together they are 2·vocab·hidden weights, and quantizing the head costs the most accuracy.

* int8: torchao `Int8WeightOnlyConfig` — per-output-row symmetric int8, works on CPU and CUDA.
* int4: groups of `group_size` input weights share a scale and zero point (asymmetric, tinygemm's packing).
  On CPU torchao's `PrototypeInt4WeightOnlyConfig` (the `_weight_int4pack_mm_for_cpu` kernel); on CUDA
  `Int4WeightOnlyConfig(int4_packing_format="tile_packed_to_4d")` (tinygemm). A layer whose input size no
  supported group size divides (the tiny test model's 176-wide MLP) stays unquantized and is counted in the
  report, never silently. The CUDA layout holds bf16 weights only and needs compute capability >= 8.0
  (torchao 0.18 `int4_tile_packed_to_4d_tensor.py` ~112/124 asserts and raises): other pairings are refused with
  one line before the checkpoint is read. It also stores each weight padded to a multiple of 1024 inputs and 8
  rows (same file ~130), which Baichuan's 11008/13696-wide `down_proj` pays for; `planned_weight_bytes` counts it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from dataclasses import dataclass, field

import torch
from torch import nn

from pretrain.cli import UsageError
from pretrain.model import BaichuanForCausalLM

QUANTIZE_MODES = ("none", "int8", "int4")
INT4_GROUP_SIZES = (128, 64, 32)  # tinygemm's sizes; the largest that divides a layer's input is used
TORCHAO_PIN = "torchao==0.18.0"  # the version tested with torch 2.13 (also in requirements-lock.txt)
# torchao 0.18's CUDA int4 layout (Int4TilePackedTo4dTensor.from_hp) pads inputs to a multiple of 1024 and outputs
# to one of its ntile_size (8), and stores the padded weight: half a byte each, a bf16 scale and zero per group.
CUDA_INT4_IN_MULTIPLE, CUDA_INT4_OUT_MULTIPLE = 1024, 8
DTYPE_NAMES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def torchao_available() -> bool:
    """Whether torchao is installed, without importing it (its import is slow and logs; see below)."""
    return importlib.util.find_spec("torchao") is not None


def check_quantize_mode(mode: str, device: str | torch.device = "cpu", dtype: str | torch.dtype = "bf16") -> None:
    """One-line user error for a bad `quantize=` value, a missing torchao, or int4 on a device and dtype its
    kernel cannot take (the CLIs call it with their `device=` and `dtype=` before loading; exit 2)."""
    if mode not in QUANTIZE_MODES:
        raise UsageError(f"quantize={mode!r} is not one of {QUANTIZE_MODES} — use quantize=int8 or quantize=int4")
    if mode != "none" and not torchao_available():
        raise UsageError(f"quantize={mode} needs torchao — pip install {TORCHAO_PIN} (make install does)")
    if mode == "int4":
        try:
            device = torch.device(device)
        except RuntimeError:
            raise UsageError(f"device={device!r} is not a device — use cpu, cuda or cuda:N") from None
        problem = int4_cuda_problem(device, DTYPE_NAMES.get(dtype, dtype))
        if problem:
            raise UsageError(problem)


def int4_cuda_problem(device: torch.device, dtype: torch.dtype) -> str | None:
    """Why int4 cannot run on this CUDA device in this dtype (None: it can, or the device is not CUDA)."""
    if device.type != "cuda":
        return None
    if dtype != torch.bfloat16:
        name = next((key for key, value in DTYPE_NAMES.items() if value == dtype), str(dtype))
        return (f"quantize=int4 on {device} needs dtype=bf16, not {name} (torchao's CUDA int4 layout holds bf16 "
                "weights only) — add dtype=bf16")
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(device)
        if major < 8:
            return (f"quantize=int4 on {device} needs compute capability >= 8.0 (tinygemm's tensor-core kernel); "
                    f"this GPU is {major}.{minor} — use quantize=int8, or device=cpu")
    return None


@dataclass
class QuantizeReport:
    mode: str
    quantized: list[str] = field(default_factory=list)  # module names
    kept: list[str] = field(default_factory=list)  # decoder linears left in the model dtype (shape does not fit)

    def summary(self) -> str:
        line = f"quantize={self.mode}: {len(self.quantized)} decoder linear layers quantized"
        if self.kept:
            line += f", {len(self.kept)} kept in the model dtype (input size fits no int4 group size)"
        return line + "; embedding and lm_head kept in the model dtype"


def decoder_linears(model: nn.Module) -> dict[str, nn.Linear]:
    """The linear layers inside the decoder blocks, by module name (what Baichuan's quantize() replaces)."""
    return {name: module for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and name.startswith("model.layers.")}


def _int4_config(group_size: int, device: torch.device):
    if device.type == "cuda":
        # lazy: torchao (throughout this file) is an optional, heavy dependency only quantize=int8|int4 needs
        from torchao.quantization import Int4WeightOnlyConfig

        return Int4WeightOnlyConfig(group_size=group_size, int4_packing_format="tile_packed_to_4d",
                                    set_inductor_config=False)
    # lazy: torchao, as above
    from torchao.prototype.quantization.int4.inference_workflow import PrototypeInt4WeightOnlyConfig

    return PrototypeInt4WeightOnlyConfig(group_size=group_size, set_inductor_config=False)


def import_torchao_quietly() -> None:
    """torchao's import logs a 'Failed to load' line per CUDA extension it cannot load on a CPU build; they say
    nothing about int8/int4 weight-only inference, so keep them off the user's terminal."""
    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import torchao  # noqa: F401 - lazy: optional and slow, only quantize=int8|int4 needs it


@torch.no_grad()
def quantize_model(model: nn.Module, mode: str) -> QuantizeReport:
    """Quantize `model`'s decoder linears in place (weights only; activations stay in the model dtype)."""
    linears = decoder_linears(model)
    weight = next(iter(linears.values())).weight if linears else torch.empty(0)
    check_quantize_mode(mode, weight.device, weight.dtype)  # int4 on CUDA in fp32: this line, not torchao's assert
    report = QuantizeReport(mode)
    if mode == "none":
        return report
    import_torchao_quietly()
    from torchao.quantization import Int8WeightOnlyConfig, quantize_  # lazy: torchao, imported quietly above

    if mode == "int8":
        config_for = {name: Int8WeightOnlyConfig(set_inductor_config=False) for name in linears}
    else:
        config_for = {}
        for name, linear in linears.items():
            group = int4_group_size(linear.in_features)
            if group is not None:
                config_for[name] = _int4_config(group, linear.weight.device)
            else:
                report.kept.append(name)
    for name, config in config_for.items():
        quantize_(model, config, filter_fn=lambda _module, fqn, target=name: fqn == target)
        report.quantized.append(name)
    return report


def _stored_bytes(tensor: torch.Tensor) -> int:
    """Bytes a tensor holds; a torchao tensor subclass is counted by its inner tensors (qdata, scales, zeros)."""
    flatten = getattr(tensor, "__tensor_flatten__", None)
    if flatten is None or type(tensor) in (torch.Tensor, nn.Parameter):
        return tensor.numel() * tensor.element_size()
    inner_names, _ = flatten()
    return sum(_stored_bytes(getattr(tensor, n)) for n in inner_names if getattr(tensor, n) is not None)


def weight_bytes(model: nn.Module) -> int:
    """Bytes held by the model's parameters and buffers, as stored (quantized ones included)."""
    tensors = {id(t): t for t in list(model.parameters()) + list(model.buffers())}  # tied weights once
    return sum(_stored_bytes(t) for t in tensors.values())


def int4_group_size(in_features: int) -> int | None:
    """The int4 group size a layer with this input size gets (None: it stays unquantized)."""
    return next((g for g in INT4_GROUP_SIZES if in_features % g == 0), None)


def planned_weight_bytes(cfg, mode: str, dtype_bytes: int = 2, device: str = "cpu") -> int:
    """What `weight_bytes` reports after `quantize_model(model, mode)` on a model of `cfg` whose dtype has
    `dtype_bytes` bytes, on `device` — computed from shapes alone (the model is built on the meta device), so the
    planner can size a 13B model. Storage as torchao 0.18 keeps it: int8 = one byte per weight plus an fp32 scale
    and an int8 zero point per output row; int4 = half a byte per weight plus a scale and a zero point in the
    model dtype per group of `group_size` inputs — on CUDA of the weight padded to 1024 inputs and 8 outputs, in
    bf16 (the only dtype that layout takes). Everything outside the decoder linears stays at `dtype_bytes`."""
    if mode not in QUANTIZE_MODES:
        raise UsageError(f"quantize={mode!r} is not one of {QUANTIZE_MODES}")
    plain = dataclasses.replace(cfg, attention="eager", norm="reference", compile=False)
    with torch.device("meta"):
        model = BaichuanForCausalLM(plain)
    linears = decoder_linears(model) if mode != "none" else {}
    total = sum(p.numel() * dtype_bytes for name, p in model.named_parameters()
                if name.removesuffix(".weight") not in linears)
    for linear in linears.values():
        rows, inputs = linear.out_features, linear.in_features
        if mode == "int8":
            total += rows * inputs + rows * (4 + 1)
        elif (group := int4_group_size(inputs)) is not None:
            scale_bytes = dtype_bytes
            if torch.device(device).type == "cuda":
                rows, inputs, scale_bytes = -(-rows // CUDA_INT4_OUT_MULTIPLE) * CUDA_INT4_OUT_MULTIPLE, \
                    -(-inputs // CUDA_INT4_IN_MULTIPLE) * CUDA_INT4_IN_MULTIPLE, 2
            total += rows * inputs // 2 + rows * (inputs // group) * 2 * scale_bytes
        else:
            total += rows * inputs * dtype_bytes
    return total
