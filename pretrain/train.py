"""Pretraining entry point.

    python -m pretrain.train [model=baichuan_7b] [deepspeed=zero3] [key=value ...]
    deepspeed --num_gpus 8 --module pretrain.train ...          (the launcher's --local_rank is stripped)
    deepspeed --hostfile hosts --no_local_rank --module pretrain.train ...
    torchrun --nproc_per_node 8 -m pretrain.train ...            (rank and world size from the environment)

Running it again with the same checkpoint directory resumes from the newest valid checkpoint
(`train.resume=auto`, the default).
"""

from __future__ import annotations

import logging
import os
import sys

from pretrain.config import ConfigError, config_from_argv


def main(argv: list[str] | None = None) -> int:
    config = config_from_argv(argv)  # exits 2 with one line on a bad config, before any rank starts work
    logging.basicConfig(
        level=logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    # DeepSpeed and the trainer are imported after the config is known to be good: a typo answers at once.
    from pretrain.checkpoint import CheckpointNotFound
    from pretrain.data.errors import DataConfigError, DataStateMismatchError
    from pretrain.engine import distributed_session
    from pretrain.trainer import Trainer

    with distributed_session() as (rank, world_size):
        try:
            Trainer(config, rank, world_size).fit()
        except (ConfigError, CheckpointNotFound, DataConfigError, DataStateMismatchError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
