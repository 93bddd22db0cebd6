"""Weight-only int8 / int4 (torchao) against unquantized weights, side by side in one run: resident memory,
greedy decode tokens/s and held-out perplexity on the demo data.

    BAICHUAN_DEMO_DIR=demo_out .venv/bin/python bench/bench_quantize.py [--model baichuan_1b] \
        [--modes fp32,bf16,int8,int4] [--new-tokens 32] [--ppl-seq 256] [--ppl-batches 2] [--threads 2]
    ... bench/bench_quantize.py --checkpoint RUN/checkpoints   # trained weights instead of random ones

Each mode runs in a fresh subprocess (one after another), so its resident memory is its own: RSS after the
model is built, cast and quantized, minus RSS before it was built (torch and torchao already imported in every
mode). int8/int4 quantize the decoder's linear layers of the bf16 model (pretrain/inference/quantize.py); the
embedding and lm_head stay bf16, as in Baichuan's own quantize(). With random weights (the default) perplexity
is near the vocabulary size, and its change measures how far quantization moves the logits, not knowledge lost.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time

import torch

MODES = ("fp32", "bf16", "int8", "int4")
MIB = 1024**2


def resident_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def build_model(args):
    """Random weights of a conf/model preset (seed 0, the same in every mode) or a checkpoint's weights."""
    from pretrain.model import BaichuanForCausalLM

    if args.checkpoint:
        from pretrain.weights import load_any_checkpoint

        cfg, state_dict, _ = load_any_checkpoint(args.checkpoint)
        model = BaichuanForCausalLM(cfg)
        model.load_state_dict(state_dict)
        del state_dict
        return model
    from pretrain.plan import load_model_config

    torch.manual_seed(0)
    return BaichuanForCausalLM(load_model_config(args.model, []))


def held_out_perplexity(model, args) -> float:
    """Token-weighted perplexity over the demo data's held-out documents (both sources)."""
    import math

    from pretrain.data import PretrainDataLoader
    from pretrain.evaluation.data_spec import load_data_config
    from pretrain.evaluation.perplexity import held_out_losses

    loader = PretrainDataLoader(load_data_config(args.data), seq_len=args.ppl_seq, micro_batch_size=1)
    per_source = held_out_losses(lambda b: model(b["input_ids"], labels=b["labels"]), loader, args.ppl_batches)
    tokens = sum(r.tokens for r in per_source)
    return math.exp(sum(r.loss * r.tokens for r in per_source) / tokens)


@torch.no_grad()
def measure(mode: str, args) -> dict:
    from pretrain.generate import generate
    from pretrain.inference.quantize import import_torchao_quietly, quantize_model, weight_bytes

    torch.set_num_threads(args.threads)
    import_torchao_quietly()  # every mode pays for the library's import before the baseline
    gc.collect()
    before = resident_bytes()
    model = build_model(args).to(torch.float32 if mode == "fp32" else torch.bfloat16).eval()
    report = quantize_model(model, mode if mode in ("int8", "int4") else "none")
    gc.collect()
    resident = resident_bytes() - before
    vocab = model.cfg.vocab_size
    prompt = torch.randint(3, min(vocab, 2000), (1, 32), generator=torch.Generator().manual_seed(0))
    generate(model, prompt, 4, temperature=0.0)  # warm-up: first-call allocations and kernel selection
    started = time.perf_counter()
    out = generate(model, prompt, args.new_tokens, temperature=0.0)
    elapsed = time.perf_counter() - started
    return {
        "mode": mode, "model": model.cfg.name, "weights_mib": weight_bytes(model) / MIB, "rss_mib": resident / MIB,
        "tokens_per_s": (out.shape[1] - prompt.shape[1]) / elapsed, "ppl": held_out_perplexity(model, args),
        "quantized_layers": len(report.quantized), "kept_layers": len(report.kept),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="baichuan_1b", help="conf/model preset for random weights")
    parser.add_argument("--checkpoint", default="", help="trained weights instead (training checkpoint or HF dir)")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--data", default="demo", help="data preset or YAML for the held-out perplexity")
    parser.add_argument("--ppl-seq", type=int, default=256)
    parser.add_argument("--ppl-batches", type=int, default=2, help="held-out batches per source")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)  # internal: measure one mode, print JSON
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(measure(args.worker, args)), flush=True)
        return 0
    modes = args.modes.split(",")
    if unknown := [m for m in modes if m not in MODES]:
        print(f"error: --modes {unknown} not in {MODES}", file=sys.stderr)
        return 2
    rows = []
    for mode in modes:
        argv = [a for a in sys.argv[1:]] + ["--worker", mode]
        result = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True,
                                env={**os.environ, "PYTHONPATH": os.getcwd()})
        lines = [ln for ln in result.stdout.splitlines() if ln.startswith("RESULT ")]
        if result.returncode != 0 or not lines:
            print(result.stderr[-3000:], file=sys.stderr)
            print(f"error: mode {mode} failed (exit {result.returncode})", file=sys.stderr)
            return 1
        rows.append(json.loads(lines[-1].removeprefix("RESULT ")))
        print(f"done {mode}", file=sys.stderr, flush=True)
    base = rows[0]
    print(f"model {base['model']} ({'checkpoint ' + args.checkpoint if args.checkpoint else 'random weights, seed 0'}),"
          f" {args.threads} threads, greedy decode of {args.new_tokens} tokens after a 32-token prompt, "
          f"held-out ppl on data={args.data} ({args.ppl_batches} x {args.ppl_seq} tokens per source)")
    print(f"{'mode':<6} {'weights MiB':>11} {'RSS MiB':>8} {'vs ' + base['mode']:>8} {'tok/s':>7} "
          f"{'vs ' + base['mode']:>8} {'ppl':>10} {'ppl change':>10}  quantized/kept layers")
    for r in rows:
        print(f"{r['mode']:<6} {r['weights_mib']:>11.1f} {r['rss_mib']:>8.1f} {r['rss_mib'] / base['rss_mib']:>7.2f}x "
              f"{r['tokens_per_s']:>7.2f} {r['tokens_per_s'] / base['tokens_per_s']:>7.2f}x {r['ppl']:>10.3f} "
              f"{(r['ppl'] / base['ppl'] - 1) * 100:>+9.2f}%  {r['quantized_layers']}/{r['kept_layers']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
