"""Shared fixtures for the end-to-end tests: a small corpus taken through the real pipeline, tokenizer and
tokenizer once per session, and a helper that launches real DeepSpeed training on CPU ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from launch.demo_corpus import generate_demo_corpus
from pretrain.distributed.session import free_port

REPO = Path(__file__).resolve().parents[2]
DEEPSPEED = str(Path(sys.executable).with_name("deepspeed"))


def run_cli(args: list[str], env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})}, cwd=REPO)
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """raw corpus → data_pipeline.run → train_tokenizer → tokenize (by language), as `make demo` does."""
    out = tmp_path_factory.mktemp("demo")
    raw = generate_demo_corpus(out / "raw", zh_docs=400, en_docs=300)
    run_cli(["data_pipeline.run", f"input.paths=[{','.join(map(str, raw))}]", f"output.dir={out / 'pipeline'}"])
    run_cli(["data_pipeline.train_tokenizer", f"input={out / 'pipeline' / 'kept'}", f"output={out / 'tokenizer'}",
             "vocab_size=2000"])
    run_cli(["data_pipeline.tokenize", f"input={out / 'pipeline' / 'kept'}",
             f"tokenizer={out / 'tokenizer' / 'tokenizer.model'}", f"output={out / 'shards'}", "group_by=lang"])
    return out


def train(demo: Path, run_dir: Path, overrides: list[str], ranks: int = 2, env: dict | None = None,
          check: bool = True, supervisor: list[str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Launch `pretrain.train` on `ranks` CPU ranks with DeepSpeed's launcher (1 rank: plain python); faulthandler
    on, so a rank killed by a signal prints every thread's stack."""
    command = ([DEEPSPEED, "--no_local_rank", "--num_gpus", str(ranks), "--master_port", str(free_port()),
                "--module", "pretrain.train"] if ranks > 1 else [sys.executable, "-m", "pretrain.train"])
    command += ["model=tiny", "data=demo", f"logging.run_dir={run_dir}", "train.micro_batch_size=4",
                "train.global_batch_size=8", "train.seq_len=64", *overrides]
    if supervisor is not None:
        command = [sys.executable, "-m", "launch.run", *supervisor, "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                            env={**os.environ, "BAICHUAN_DEMO_DIR": str(demo), "PYTHONFAULTHANDLER": "1", **(env or {})})
    if check:
        assert result.returncode == 0, f"training failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
