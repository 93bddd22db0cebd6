"""`make demo`: the whole path on one machine, from raw zh/en text to a resumed DeepSpeed ZeRO checkpoint.

    raw jsonl + a crawled WARC → data_pipeline.run → train_tokenizer → tokenize → 2-rank ZeRO-2 training (N steps)
    → a second launch that resumes and continues to 2N steps → a sample continuation
    → learned (DoReMi) mixing weights and a held-out perplexity table → summary + loss PNG

Every stage is the same command a user would type (printed before it runs), so the demo doubles as a
walkthrough. Output goes to `demo_out/` (override with BAICHUAN_DEMO_DIR).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from launch.demo_corpus import generate_demo_corpus
from launch.demo_warc import generate_demo_warc

PY = sys.executable
DEEPSPEED = str(Path(sys.executable).with_name("deepspeed"))


def run(cmd: list[str], env: dict | None = None) -> float:
    """Run one stage, echoing the command; stop the demo with the stage's exit code if it fails."""
    print(f"\n$ {shlex.join(cmd)}", flush=True)
    started = time.perf_counter()
    result = subprocess.run(cmd, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        print(f"error: demo stage failed with exit code {result.returncode}: {shlex.join(cmd)}", file=sys.stderr)
        raise SystemExit(result.returncode)
    return time.perf_counter() - started


def train_command(out: Path, steps: int, extra: list[str]) -> list[str]:
    """Both launches share one schedule of 2N steps; the first stops (with a checkpoint) at N."""
    return [
        DEEPSPEED, "--no_local_rank", "--num_gpus", "2", "--module", "pretrain.train",
        "model=tiny", "deepspeed=zero2", "data=demo", f"logging.run_dir={out / 'run'}",
        f"train.max_steps={2 * steps}", f"train.save_interval={steps}", *extra,
    ]


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_loss(metrics: list[dict], resumed_at: int, png: Path) -> None:
    import matplotlib  # lazy: ~0.5 s, only for the loss plot at the end

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: only after the Agg backend is chosen

    steps = [m["step"] for m in metrics]
    losses = [m["loss"] for m in metrics]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, losses, marker=".", label="training loss")
    ax.axvline(resumed_at, color="grey", linestyle="--", label=f"resumed from checkpoint (step {resumed_at})")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("baichuan-pretrain demo: tiny Baichuan, ZeRO-2, 2 CPU ranks")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=120)


def summarize(out: Path, steps: int, timings: dict[str, float]) -> str:
    stats = json.loads((out / "pipeline" / "stats.json").read_text())
    shards = json.loads((out / "shards" / "summary.json").read_text())
    metrics = read_metrics(out / "run" / "metrics.jsonl")
    totals = stats["totals"]
    lines = ["", "=" * 72, "baichuan-pretrain demo summary", "=" * 72]
    lines.append(f"pipeline: {totals['docs_read']} docs read, {totals['docs_kept']} kept, "
                 f"{totals['docs_rejected']} removed")
    for stage, info in stats["stages"].items():
        for rule, count in sorted(info.get("rules", {}).items(), key=lambda kv: -kv[1]["docs"]):
            lines.append(f"  removed by {stage}:{rule}: {count['docs']} docs")
    for group, tokens in sorted(shards["tokens_per_group"].items()):
        lines.append(f"tokens from {group}: {tokens:,}")
    lines.append(f"loss: step {metrics[0]['step']} = {metrics[0]['loss']:.3f} → "
                 f"step {metrics[-1]['step']} = {metrics[-1]['loss']:.3f}")
    lines.append(f"first run stopped at step {steps}; the second resumed there and continued to step "
                 f"{metrics[-1]['step']}")
    checkpoints = out / "run" / "checkpoints"
    lines.append(f"checkpoint: {checkpoints / (checkpoints / 'latest').read_text().strip()}")
    lines.append(f"loss curve: {out / 'loss_curve.png'}")
    lines.append("stage seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    return "\n".join(lines)


def main() -> int:
    out = Path(os.environ.get("BAICHUAN_DEMO_DIR", "demo_out")).resolve()
    steps = int(os.environ.get("BAICHUAN_DEMO_STEPS", "30"))
    if out.exists():
        shutil.rmtree(out)  # the demo always starts clean so its summary describes this run
    raw = [*generate_demo_corpus(out / "raw"), generate_demo_warc(out / "raw")]  # text dumps and web pages
    env = {"BAICHUAN_DEMO_DIR": str(out)}
    timings = {}
    timings["pipeline"] = run([PY, "-m", "data_pipeline.run", f"input.paths=[{','.join(map(str, raw))}]",
                               f"output.dir={out / 'pipeline'}"])
    timings["tokenizer"] = run([PY, "-m", "data_pipeline.train_tokenizer", f"input={out / 'pipeline' / 'kept'}",
                                f"output={out / 'tokenizer'}", "vocab_size=2000"])
    timings["tokenize"] = run([PY, "-m", "data_pipeline.tokenize", f"input={out / 'pipeline' / 'kept'}",
                               f"tokenizer={out / 'tokenizer' / 'tokenizer.model'}", f"output={out / 'shards'}",
                               "group_by=lang"])
    timings["train"] = run(train_command(out, steps, [f"train.stop_at_step={steps}"]), env)
    print(f"\n--- first run stopped at step {steps}; launching again: it resumes from the checkpoint ---")
    timings["resume"] = run(train_command(out, steps, ["train.resume=auto"]), env)
    timings["generate"] = run([PY, "-m", "pretrain.generate", f"checkpoint={out / 'run' / 'checkpoints'}",
                               "prompt=在长江沿岸，", "max_new_tokens=40", "temperature=0.7", "top_p=0.9"], env)
    timings["mixing+eval"] = run([PY, "-m", "pretrain.mixing.demo", str(out)], env)
    plot_loss(read_metrics(out / "run" / "metrics.jsonl"), steps, out / "loss_curve.png")
    print(summarize(out, steps, timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
