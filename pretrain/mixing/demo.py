"""What `make demo` prints about mixing and evaluation: a tiny DoReMi run on the demo's shards and the
perplexity table of the demo's checkpoint (well under a minute on 2 CPU cores).

    from pretrain.mixing.demo import demo_report
    print(demo_report(demo_dir))
"""

from __future__ import annotations

import time
from pathlib import Path

from pretrain.data import DataConfig, PretrainDataLoader, SourceConfig
from pretrain.evaluation.cli import EvaluateArgs, load_model
from pretrain.evaluation.data_spec import checkpoint_data
from pretrain.evaluation.perplexity import held_out_losses, per_language, perplexity_table
from pretrain.mixing.cli import proxy_model_config
from pretrain.mixing.doremi import DoReMiConfig, learn_doremi_weights
from pretrain.mixing.learned_config import write_learned_config

# Tiny on purpose: the point is to show the mechanism end to end, not to learn good weights from 30 steps.
DEMO_DOREMI = DoReMiConfig(reference_steps=30, proxy_steps=30, seq_len=64, batch_size=4, samples_per_domain=2,
                           lr=3e-3, log_interval=10_000)


def _demo_sources(demo_dir: Path) -> DataConfig:
    """The data config the demo trained with (saved in its checkpoint: zh 0.6 / en 0.4 as the initial mixture),
    else every token-shard directory the demo wrote, at natural proportions."""
    if (demo_dir / "run" / "checkpoints" / "latest").is_file():
        return checkpoint_data(str(demo_dir / "run" / "checkpoints"))[0]
    shards = demo_dir / "shards"
    dirs = sorted(p.parent for p in shards.glob("*/manifest.json"))
    tokenizer = demo_dir / "tokenizer" / "tokenizer.model"
    return DataConfig(sources=[SourceConfig(name=d.name, path=str(d)) for d in dirs],
                      tokenizer=str(tokenizer) if tokenizer.is_file() else "", validation_fraction=0.02)


def mixing_report(demo_dir: Path) -> str:
    data = _demo_sources(demo_dir)
    model_cfg = proxy_model_config("tiny", data, DEMO_DOREMI.seq_len)
    started = time.perf_counter()
    result = learn_doremi_weights(data, model_cfg, DEMO_DOREMI)
    output = write_learned_config(data, result, demo_dir / "conf" / "data" / "learned.yaml",
                                  "pretrain.mixing.demo.demo_report (DoReMi, tiny model, 30+30 steps)")
    lines = [f"learned mixing weights (DoReMi, tiny model, {DEMO_DOREMI.reference_steps} reference + "
             f"{DEMO_DOREMI.proxy_steps} proxy steps, {time.perf_counter() - started:.0f} s):",
             f"  {'source':<8} {'initial':>8} {'learned':>8} {'excess':>8}"]
    lines += [f"  {name:<8} {init:>8.3f} {w:>8.3f} {ex:>8.3f}"
              for name, init, w, ex in zip(result.domains, result.initial, result.weights, result.mean_excess)]
    lines.append(f"  written to {output}; train on it with\n"
                 f"    python -m pretrain.train 'hydra.searchpath=[file://{demo_dir / 'conf'}]' data=learned")
    return "\n".join(lines)


def perplexity_report(demo_dir: Path) -> str:
    checkpoint = demo_dir / "run" / "checkpoints"
    model, _ = load_model(EvaluateArgs(checkpoint=str(checkpoint)))
    data, seq_len = checkpoint_data(str(checkpoint))
    loader = PretrainDataLoader(data, seq_len=seq_len, micro_batch_size=4)
    per_source = held_out_losses(lambda b: model(b["input_ids"], labels=b["labels"]), loader, max_batches=8)
    table = perplexity_table(per_source, per_language(loader, per_source))
    return f"held-out perplexity of {checkpoint} (python -m pretrain.evaluation checkpoint=... task=ppl):\n{table}"


def demo_report(demo_dir: str | Path) -> str:
    demo_dir = Path(demo_dir)
    return mixing_report(demo_dir) + "\n\n" + perplexity_report(demo_dir)


if __name__ == "__main__":
    import sys

    print(demo_report(sys.argv[1] if len(sys.argv) > 1 else "demo_out"))
