#!/usr/bin/env bash
# GPU check for the Baichuan model, < 10 minutes on one H100/H200:
#   1. every attention backend on the machine (flash-attn, SDPA, FlexAttention) against the eager reference on
#      CUDA in bf16, for RoPE and ALiBi, with and without document masking (the loader's cu_seqlens, and flash
#      deriving them); a packed forward under torch.cuda.set_sync_debug_mode("error"); RMSNorm backends;
#      chunked vs naive loss in bf16, and in fp16 under a 2**16 loss scale;
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
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
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

from pretrain.data import batch_to_device, packed_batch
from pretrain.model import BaichuanForCausalLM, ModelConfig
from pretrain.model.loss import causal_lm_loss
from pretrain.model.flops import GPU_PEAK_TFLOPS, count_parameters, flops_per_token, gpu_from_device_name
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
docs_host = torch.cat([torch.zeros(2, 101), torch.ones(2, 60), torch.full((2, 96), 2)], dim=1).long()
# What the trainer hands the model: the loader's batch (cu_seqlens and max_seqlen built on the host, pinned).
packed = batch_to_device(packed_batch(torch.cat([ids.cpu(), ids.cpu()[:, :1]], 1).numpy(), docs_host.numpy()),
                         torch.device(device), document_masking=True)
packed.pop("labels")
docs = packed["doc_ids"]
for position in ("rope", "alibi"):
    for doc_ids in (None, docs):
        torch.manual_seed(0)
        ref_model = BaichuanForCausalLM(small(position=position, attention="eager")).to(device, torch.bfloat16)
        with torch.no_grad():
            reference = ref_model(ids, doc_ids=doc_ids).float()
        for backend in backends:
            model = BaichuanForCausalLM(small(position=position, attention=backend)).to(device, torch.bfloat16)
            model.load_state_dict(ref_model.state_dict())
            masking = "documents" if doc_ids is not None else "causal"
            with torch.no_grad():
                logits = model(ids, doc_ids=doc_ids).float()
                report(f"{backend} {position} {masking}", (logits - reference).abs().max().item(), 0.1)
                if doc_ids is not None:
                    logits = model(**packed).float()
                    report(f"{backend} {position} documents, loader cu_seqlens",
                           (logits - reference).abs().max().item(), 0.1)
            if device == "cuda" and doc_ids is not None and backend in ("flash", "sdpa"):
                model(**packed)  # the first call may set up (e.g. move the ALiBi buffer)
                torch.cuda.synchronize()
                torch.cuda.set_sync_debug_mode("error")
                try:
                    with torch.no_grad():
                        model(**packed)
                    synced = 0.0
                except RuntimeError as err:
                    print(f"  host sync in the packed forward: {err}")
                    synced = 1.0
                finally:
                    torch.cuda.set_sync_debug_mode("default")
                report(f"{backend} {position} packed forward waits for the GPU", synced, 0)
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
# fp16 under DeepSpeed's first loss scale (2**16, inf in fp16): (softmax - onehot) / N underflows in fp16 unless
# the scale is applied (in fp32) before the cast. The chunked loss must be as close to fp32 as the naive one.
gen = torch.Generator(device=device).manual_seed(0)
hidden16 = torch.randn(2048, 512, device=device, generator=gen).half()
weight16 = (torch.randn(64000, 512, device=device, generator=gen) * 0.02).half()
labels16 = torch.randint(0, 64000, (2048,), device=device, generator=gen)
fp16_grads = {}
for kind, chunk, dtype in (("fp32", 0, torch.float32), ("naive", 0, torch.float16),
                           ("chunked", 1024, torch.float16)):
    h, w = (t.to(dtype).clone().requires_grad_() for t in (hidden16, weight16))
    (causal_lm_loss(h, w, labels16, chunk) * 2.0**16).backward()
    fp16_grads[kind] = (h.grad.double(), w.grad.double())
for i, what in enumerate(("hidden", "lm_head")):
    exact = fp16_grads["fp32"][i]
    naive_err, chunked_err = ((fp16_grads[k][i] - exact).norm().item() / exact.norm().item()
                              for k in ("naive", "chunked"))
    print(f"  fp16 x 2**16 grad {what}: relative error naive {naive_err:.1e}, chunked {chunked_err:.1e}")
    report(f"fp16 chunked loss {what} grad, its relative error / twice the naive's",
           chunked_err / (2 * naive_err), 1)
del hidden16, weight16, fp16_grads
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
peak = GPU_PEAK_TFLOPS.get(gpu_from_device_name(name) or "")
print(f"  {tokens_per_s:,.0f} tokens/s, {achieved:.1f} TFLOP/s model FLOPs (6N + attention, no recompute), "
      f"final loss {loss.item():.3f}")
if peak:
    print(f"  MFU {100 * achieved / peak:.1f} % of {peak:.0f} TFLOP/s bf16 peak ({name}); goal >= 60 %")
else:
    print(f"  MFU: no peak-FLOPS entry for {name!r} in GPU_PEAK_TFLOPS")
if device == "cuda":
    print(f"  peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
print("backend checks:", "all ok" if not failures else f"FAILED {failures}")
raise SystemExit(1 if failures else 0)
PY
