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

from plumbing.user_error import user_errors_exit
from pretrain.checkpoint import CheckpointNotFound
from pretrain.config.compose import training_command
from pretrain.distributed.session import distributed_session
from pretrain.training import build_trainer

COMMAND = training_command(
    "python -m pretrain.train",
    "pretrain a Baichuan model with DeepSpeed (rerun the same command to resume)",
    "model=baichuan_7b deepspeed=zero3 train=baichuan data.tokenizer=TOK/tokenizer.model logging.run_dir=RUN",
)


def main(argv: list[str] | None = None, command=COMMAND) -> int:
    config = command.parse(argv)  # exits 2 with one line on a bad config, before any rank starts work
    logging.basicConfig(
        level=logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    # Config, data and data-state errors are UserErrors; a missing checkpoint is the user's doing too.
    with user_errors_exit(CheckpointNotFound), distributed_session(config.train.dist_timeout_minutes) as (rank, world_size):
        build_trainer(config, rank, world_size).fit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
