"""Peak memory of the LM loss (forward + backward) at vocab 64000, seq 2048: chunked (fused) / naive. Goal <= 0.35.

Each variant runs in a fresh subprocess; peak = max RSS during the loss minus RSS just before it (inputs, head
weight allocated and touched). Two settings: the head weight trainable (its [V, H] gradient, identical in both
variants, is included) and frozen (only what the loss itself keeps: logits, probabilities, input gradient).

    .venv/bin/python bench/bench_loss_memory.py [--hidden 1024] [--chunk 256]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

MIB = 1024**2


def measure(variant: str, hidden_size: int, chunk: int, train_weight: bool, seq: int, vocab: int) -> dict:
    import psutil
    import torch

    from pretrain.model.loss import causal_lm_loss

    torch.manual_seed(0)
    hidden = torch.randn(1, seq, hidden_size, requires_grad=True)
    weight = (torch.randn(vocab, hidden_size) * 0.02).requires_grad_(train_weight)
    labels = torch.randint(0, vocab, (1, seq))
    before = psutil.Process().memory_info().rss
    loss = causal_lm_loss(hidden, weight, labels, chunk if variant == "chunked" else 0)
    loss.backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {"variant": variant, "loss": loss.item(), "peak_mib": (peak - before) / MIB,
            "grad_norm": hidden.grad.norm().item()}


def run_variant(variant: str, args, train_weight: bool) -> dict:
    command = [sys.executable, __file__, "--child", variant, "--hidden", str(args.hidden), "--chunk",
               str(args.chunk), "--seq", str(args.seq), "--vocab", str(args.vocab)]
    if train_weight:
        command.append("--train-weight")
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--vocab", type=int, default=64000)
    parser.add_argument("--train-weight", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=["naive", "chunked"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = measure(args.child, args.hidden, args.chunk, args.train_weight, args.seq, args.vocab)
        print(json.dumps(result))
        return
    print(f"loss fwd+bwd, fp32 CPU, tokens {args.seq}, vocab {args.vocab}, hidden {args.hidden}, chunk {args.chunk}")
    for train_weight in (False, True):
        naive, chunked = (run_variant(v, args, train_weight) for v in ("naive", "chunked"))
        assert abs(naive["loss"] - chunked["loss"]) < 1e-4 and abs(naive["grad_norm"] - chunked["grad_norm"]) < 1e-4
        label = "head weight trainable (its gradient counted)" if train_weight else "head weight frozen (loss only)"
        print(f"{label}: naive {naive['peak_mib']:.0f} MiB, chunked {chunked['peak_mib']:.0f} MiB, "
              f"ratio chunked/naive {chunked['peak_mib'] / naive['peak_mib']:.2f} (goal <= 0.35)")


if __name__ == "__main__":
    main()
