#!/usr/bin/env bash
# GPU check for the Baichuan model, < 10 minutes on one H100/H200:
#   1. every attention backend on the machine (flash-attn, SDPA, FlexAttention) against the eager reference on
#      CUDA in bf16, for RoPE and ALiBi, with and without document masking; RMSNorm backends; chunked vs naive
#      loss;
#   2. MFU of conf/model/baichuan_1b.yaml at seq 4096 in bf16 (forward + backward + fused AdamW step).
# Goal: >= 60 % MFU on one H100/H200 (Baichuan reported 58.3 % on A800).
#
#   bench/gpu_check.sh [--model baichuan_1b] [--seq 4096] [--batch 2] [--steps 10] [--compile]
#
# Without CUDA it refuses (exit 2). GPU_CHECK_ALLOW_CPU=1 runs the same code on CPU with tiny sizes, to check
# the script itself (e.g. GPU_CHECK_ALLOW_CPU=1 bench/gpu_check.sh --model tiny --seq 64 --steps 2).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[[ -x "$PY" ]] || PY=python3

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
if [[ "${GPU_CHECK_ALLOW_CPU:-0}" != "1" ]] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "error: no CUDA device visible to torch — run bench/gpu_check.sh on a GPU machine" >&2
    exit 2
fi

exec timeout 600 "$PY" - "$@" <<'PY'
import argparse
import time

import torch
from omegaconf import OmegaConf

from pretrain.model import BaichuanForCausalLM, ModelConfig
from pretrain.model.flops import PEAK_TFLOPS, count_parameters, flops_per_token
from pretrain.model.kernels import apex_rmsnorm_available, flash_attn_available
from pretrain.model.norm import RMSNorm

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="baichuan_1b")
parser.add_argument("--seq", type=int, default=4096)
parser.add_argument("--batch", type=int, default=2)
parser.add_argument("--steps", type=int, default=10)
parser.add_argument("--compile", action="store_true")
args = parser.parse_args()
device = "cuda" if torch.cuda.is_available() else "cpu"
name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
print(f"device: {name}; torch {torch.__version__}; flash-attn {flash_attn_available()}; apex {apex_rmsnorm_available()}")
failures = []


def report(what, diff, tolerance):
    ok = diff <= tolerance
    failures.extend([] if ok else [what])
    print(f"  {'ok  ' if ok else 'FAIL'} {what}: max abs diff {diff:.2e} (tolerance {tolerance:.0e})")


def small(**kw):
    base = dict(vocab_size=1000, hidden_size=512, num_layers=2, num_heads=4, intermediate_size=1376, max_seq_len=512)
    return ModelConfig(**{**base, **kw})


print("1. backends vs eager (bf16 weights and activations; eager computes attention in fp32)")
backends = ["sdpa"] + (["flash"] if flash_attn_available() else []) + (["flex"] if device == "cuda" else [])
ids = torch.randint(3, 1000, (2, 256), device=device)
docs = torch.cat([torch.zeros(2, 100), torch.ones(2, 60), torch.full((2, 96), 2)], dim=1).long().to(device)
for position in ("rope", "alibi"):
    for doc_ids in (None, docs):
        torch.manual_seed(0)
        ref_model = BaichuanForCausalLM(small(position=position, attention="eager")).to(device, torch.bfloat16)
        with torch.no_grad():
            reference = ref_model(ids, doc_ids=doc_ids).float()
        for backend in backends:
            model = BaichuanForCausalLM(small(position=position, attention=backend)).to(device, torch.bfloat16)
            model.load_state_dict(ref_model.state_dict())
            with torch.no_grad():
                logits = model(ids, doc_ids=doc_ids).float()
            masking = "documents" if doc_ids is not None else "causal"
            report(f"{backend} {position} {masking}", (logits - reference).abs().max().item(), 0.1)
x = torch.randn(4096, 512, device=device, dtype=torch.bfloat16) * 3
ref_norm = RMSNorm(512, 1e-6, "reference").to(device, torch.bfloat16)
for backend in ["torch"] + (["apex"] if apex_rmsnorm_available() else []):
    norm = RMSNorm(512, 1e-6, backend).to(device, torch.bfloat16)
    report(f"rmsnorm {backend}", (norm(x).float() - ref_norm(x).float()).abs().max().item(), 0.05)
torch.manual_seed(0)
naive = BaichuanForCausalLM(small(loss_chunk_size=0)).to(device, torch.bfloat16)
chunked = BaichuanForCausalLM(small(loss_chunk_size=128)).to(device, torch.bfloat16)
chunked.load_state_dict(naive.state_dict())
losses, grads = [], []
for model in (naive, chunked):
    loss = model(ids, labels=ids)
    loss.backward()
    losses.append(loss.item())
    grads.append(model.lm_head.weight.grad.float())
report("chunked loss value", abs(losses[0] - losses[1]), 1e-2)
report("chunked loss lm_head grad", (grads[0] - grads[1]).abs().max().item(), 1e-3)
del naive, chunked, ref_model

print(f"2. MFU: {args.model}, seq {args.seq}, micro-batch {args.batch}, bf16, compile={args.compile}")
conf = OmegaConf.merge(OmegaConf.structured(ModelConfig), OmegaConf.load(f"conf/model/{args.model}.yaml"))
cfg = OmegaConf.to_object(conf)
cfg.compile, cfg.max_seq_len = args.compile, max(cfg.max_seq_len, args.seq)
torch.manual_seed(0)
model = BaichuanForCausalLM(cfg).to(device, torch.bfloat16).train()
print(f"  attention={model.attention_backend} norm={model.norm_backend} parameters={count_parameters(cfg):,} "
      f"activation_checkpointing={cfg.activation_checkpointing} loss_chunk_size={cfg.loss_chunk_size}")
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device == "cuda")
ids = torch.randint(3, cfg.vocab_size, (args.batch, args.seq), device=device)


def train_step():
    loss = model(ids, labels=ids)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
for _ in range(3):
    train_step()
sync()
start = time.perf_counter()
for _ in range(args.steps):
    loss = train_step()
sync()
elapsed = time.perf_counter() - start
tokens_per_s = args.steps * args.batch * args.seq / elapsed
achieved = tokens_per_s * flops_per_token(cfg, args.seq) / 1e12
peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
print(f"  {tokens_per_s:,.0f} tokens/s, {achieved:.1f} TFLOP/s model FLOPs (6N + attention, no recompute), "
      f"final loss {loss.item():.3f}")
if peak:
    print(f"  MFU {100 * achieved / peak:.1f} % of {peak:.0f} TFLOP/s bf16 peak ({name}); goal >= 60 %")
else:
    print(f"  MFU: no peak-FLOPS entry for {name!r} in PEAK_TFLOPS")
if device == "cuda":
    print(f"  peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
print("backend checks:", "all ok" if not failures else f"FAILED {failures}")
raise SystemExit(1 if failures else 0)
PY
