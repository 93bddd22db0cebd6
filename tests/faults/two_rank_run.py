"""The 2-rank training command the fault tests launch: real DeepSpeed ZeRO-2 on CPU ranks (fp32, tiny model) over a
source of random token ids, so each test only adds the overrides and the fault it is about."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from pretrain.distributed.session import free_port
from tests.token_sources import write_token_source


def two_rank_training(tmp_path: Path, run_dir: Path, max_steps: int, *overrides: str) -> list[str]:
    """`deepspeed --num_gpus 2 --module pretrain.train ...` training `max_steps` steps into `run_dir`."""
    rng = np.random.default_rng(0)
    source = tmp_path / "corpus" / "zh"
    write_token_source(source, [rng.integers(3, 2000, size=300) for _ in range(60)], "zh", 2000)
    return [
        str(Path(sys.executable).with_name("deepspeed")), "--no_local_rank", "--num_gpus", "2",
        "--master_port", str(free_port()), "--module", "pretrain.train",
        "model=tiny", "deepspeed=zero2", f"logging.run_dir={run_dir}", "train.precision=fp32",
        f"data.sources=[{{name: zh, path: {source}, target_fraction: 1.0}}]", "data.tokenizer=",
        "train.seq_len=32", "train.micro_batch_size=2", "train.global_batch_size=4", f"train.max_steps={max_steps}",
        "train.save_interval=1000", "train.warmup_steps=1", *overrides,
    ]
