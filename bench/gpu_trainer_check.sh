#!/usr/bin/env bash
# The real trainer on one GPU: conf/model/baichuan_1b.yaml, bf16, DeepSpeed ZeRO-2, seq 4096, reporting the
# MFU / HFU / TFLOPS the trainer itself logged (metrics.jsonl; formula in docs/trainer.md), median over the
# steps after warm-up. Where bench/gpu_check.sh measures the bare model, this measures everything the framework
# adds around it (data loader, DeepSpeed engine, loss guard, metrics, callbacks). < 10 minutes on one H100/H200.
#
#   bench/gpu_trainer_check.sh [--model baichuan_1b] [--seq 4096] [--batch 2] [--steps 20] [--warmup 5] [KEY=VALUE ...]
#
# Extra KEY=VALUE arguments are passed to pretrain.train (e.g. model.activation_checkpointing=1 deepspeed=zero3).
# Without CUDA it refuses (exit 2). GPU_CHECK_ALLOW_CPU=1 runs the same script on CPU with whatever sizes are
# given, to check the script itself (GPU_CHECK_ALLOW_CPU=1 bench/gpu_trainer_check.sh --model tiny --seq 64 --steps 3 --warmup 1).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[[ -x "$PY" ]] || PY=python3

MODEL=baichuan_1b SEQ=4096 BATCH=2 STEPS=20 WARMUP=5 EXTRA=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --model) MODEL="$2"; shift 2 ;;
        --seq) SEQ="$2"; shift 2 ;;
        --batch) BATCH="$2"; shift 2 ;;
        --steps) STEPS="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        *=*) EXTRA+=("$1"); shift ;;
        *) echo "error: unknown argument $1 — see bench/gpu_trainer_check.sh --help" >&2; exit 2 ;;
    esac
done
if (( WARMUP >= STEPS )); then
    echo "error: --warmup $WARMUP must be smaller than --steps $STEPS" >&2
    exit 2
fi
if [[ "${GPU_CHECK_ALLOW_CPU:-0}" != "1" ]] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "error: no CUDA device visible to torch — run bench/gpu_trainer_check.sh on a GPU machine" >&2
    exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/gpu_trainer_check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# Random token ids in the shard format (throughput does not depend on text), enough for every step.
VOCAB="$("$PY" -c "
from pretrain.config import compose_config
print(compose_config(['model=$MODEL', 'data.sources=[{name: x, path: /x}]']).model.vocab_size)")"
"$PY" - "$WORK/shards" "$VOCAB" "$(( (STEPS + 2) * BATCH * (SEQ + 1) ))" <<'PY'
import sys
from pathlib import Path

import numpy as np

from data_pipeline.formats.token_shards import TokenShardWriter, write_manifest

directory, vocab, tokens = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
with TokenShardWriter(directory, "part-00000", vocab_size=vocab, eos_id=2) as writer:
    written = 0
    while written < 2 * tokens:  # twice what training reads: the validation split takes a share too
        document = rng.integers(3, vocab, size=8192)
        writer.add_document(document, source="random", language="en")
        written += document.size + 1
write_manifest(directory, [writer.entry], vocab_size=vocab, eos_id=2, tokenizer_sha256="0" * 64)
PY

echo "trainer: model=$MODEL seq=$SEQ micro_batch=$BATCH steps=$STEPS (median over steps > $WARMUP) ${EXTRA[*]:-}"
timeout 600 "$PY" -m pretrain.train "model=$MODEL" "model.max_seq_len=$SEQ" \
    "data.sources=[{name: random, path: $WORK/shards}]" "data.tokenizer=" \
    "deepspeed=zero2" "train.precision=bf16" "train.seq_len=$SEQ" "train.micro_batch_size=$BATCH" \
    "train.max_steps=$STEPS" "train.warmup_steps=2" "train.save_interval=1000000" "train.resume=none" \
    "logging.run_dir=$WORK/run" "train.checkpoint_dir=$WORK/run/checkpoints" "logging.console=false" \
    "${EXTRA[@]}" > "$WORK/train.log" 2>&1 || { tail -40 "$WORK/train.log" >&2; exit 1; }

"$PY" - "$WORK/run/metrics.jsonl" "$WARMUP" <<'PY'
import json
import statistics
import sys

records = [json.loads(line) for line in open(sys.argv[1])]
steady = [r for r in records if "mfu" in r and r["step"] > int(sys.argv[2])]
if not steady:
    sys.exit("error: the trainer logged no steps after the warm-up")
median = {key: statistics.median(r[key] for r in steady)
          for key in ("mfu", "hfu", "tflops_per_device", "tokens_per_s_per_device", "memory_gb", "step_seconds")}
print(f"steps {steady[0]['step']}..{steady[-1]['step']}: MFU {median['mfu']:.1%}  HFU {median['hfu']:.1%}  "
      f"{median['tflops_per_device']:.1f} TFLOPS/device  {median['tokens_per_s_per_device']:,.0f} tokens/s/device  "
      f"{median['step_seconds']:.3f} s/step  max memory {median['memory_gb']:.1f} GiB")
print(f"loss {steady[0]['loss']:.3f} -> {steady[-1]['loss']:.3f}; goal: MFU >= 50 % (Baichuan: 58.3 % on A800)")
PY
